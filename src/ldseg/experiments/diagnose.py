"""Where an LDSeg run loses accuracy: the label autoencoder's ceiling or the conditional denoiser.

For every test case, at the run's training size (without ``data.resize``: one training-size
window centred on the truth's foreground), the per-class Dice of

- ``autoencoder``: decode(encode(truth)), the best the shape latent allows;
- ``K=1``, ``K=2``, ``K=50``: the run's sampler from the noise ``predict --seed`` draws;
- ``t=T map``: a deterministic decode of the denoiser's clean-latent estimate at t = T from a
  zero latent, the image-to-latent map that few-step sampling rests on;

(a run that segments volumes slice by slice: each slice of a volume that holds foreground)

and the Pearson correlation between the K=2 sampled latent and encode(truth). A high
autoencoder Dice with low sampled Dice says the denoiser limits; a low autoencoder Dice says the
latent is too small or undertrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ldseg.data.cases import Case, read_cases
from ldseg.errors import LDSegError
from ldseg.evaluation.metrics import CaseScores
from ldseg.evaluation.overlay import save_figure
from ldseg.experiments.common import CaseSelection, run_label
from ldseg.experiments.results import ResultsFolder
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.pipeline import initial_noise
from ldseg.models import LDSeg
from ldseg.nets.blocks import standardize
from ldseg.utils import fmt

DEFAULT_STEPS = (1, 2, 50)


def window_around_foreground(
    image: torch.Tensor, mask: torch.Tensor, size: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``size`` window of ``image (C, *S)`` and ``mask (1, *S)`` centred on the mask's
    foreground (the image centre when it has none), zero-padded where the image is smaller."""
    pad = [max(0, w - s) for w, s in zip(size, image.shape[1:], strict=True)]
    pads = [p for amount in reversed(pad) for p in (amount // 2, amount - amount // 2)]
    image = torch.nn.functional.pad(image, pads)
    mask = torch.nn.functional.pad(mask, pads)
    found = torch.nonzero(mask[0])
    shape = mask.shape[1:]
    centre = (found.float().mean(0) if len(found) else torch.tensor(shape) / 2).round().long()
    starts = [
        int(min(max(c - w // 2, 0), s - w))
        for c, w, s in zip(centre.tolist(), size, shape, strict=True)
    ]
    index = tuple(slice(a, a + w) for a, w in zip(starts, size, strict=True))
    return image[(slice(None), *index)], mask[(slice(None), *index)]


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Correlation of two tensors over all their elements."""
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float(a @ b) / denominator if denominator > 0 else float("nan")


@torch.no_grad()
def latent_probabilities(
    predictor: Predictor,
    image: torch.Tensor,
    mask: torch.Tensor,
    ks: Sequence[int],
    sampling: SamplingOptions,
) -> tuple[dict[str, torch.Tensor], float]:
    """Class probabilities ``(C, *size)`` of one preprocessed case by each route above (the
    sampled ones with each K in ``ks``, ``sampling``'s sampler and the noise of its seed), and
    the correlation of the K=2 latent with encode(truth)."""
    model: LDSeg = predictor.model
    image, mask = image[None].to(predictor.device), mask[None].to(predictor.device)
    z_i, skips = model.encode_image(image)
    z0 = model.label_encoder(mask)

    def decode(z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model.label_decoder(z, skips), dim=1)[0].cpu()

    probs = {"autoencoder": decode(z0)}
    correlation = float("nan")
    for k in ks:
        generator = torch.Generator(predictor.device).manual_seed(sampling.seed)
        noise = initial_noise(model, image.shape[2:], generator)
        sampler = predictor.pipeline(k, sampling.sampler).sampler
        z = model.reverse(z_i, noise, sampler, generator)
        probs[f"K={k}"] = decode(z)
        if k == 2:
            correlation = pearson(z, z0)
    last = model.schedule.num_train_timesteps
    zero = torch.zeros_like(z0)
    t = torch.full((1,), last, dtype=torch.long, device=z_i.device)
    x0, _ = model.schedule.split_prediction(model.denoiser(zero, z_i, t), zero, t, model.prediction)
    probs["t=T map"] = decode(standardize(x0))
    return probs, correlation


def network_views(predictor: Predictor, case: Case) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A case as the network sees it, with its truth ``(1, *size)``: the whole image, or (a
    run that slices volumes) each slice that holds foreground; without ``data.resize``, one
    training-size window around the foreground of each."""
    data = predictor.config.data
    samples = predictor.adapter.samples(case, skip_empty_slices=True)
    views = [(sample["image"], sample["mask"]) for sample in samples]
    if not data.resize:
        views = [window_around_foreground(image, mask, data.size) for image, mask in views]
    return views


def diagnose(
    predictor: Predictor,
    pairs: Sequence,
    ks: Sequence[int] = DEFAULT_STEPS,
    sampling: SamplingOptions | None = None,
) -> dict:
    """Per-class Dice of each route (mean over cases, empty-in-both left out) and the latent
    correlation, over image/mask ``pairs`` read with the run's data settings."""
    sampling = sampling or SamplingOptions()
    if not isinstance(predictor.model, LDSeg):
        raise LDSegError(
            f"diagnose needs an LDSeg run, not {type(predictor.model).__name__} "
            "(it has no label autoencoder or latent denoiser)"
        )
    config = predictor.config
    num_classes = predictor.model.num_classes
    scores: dict[str, CaseScores] = {}
    correlations = []
    for case in read_cases(pairs, config.data):
        for tensor, mask in network_views(predictor, case):
            probs, correlation = latent_probabilities(predictor, tensor, mask, ks, sampling)
            correlations.append(correlation)
            for name, p in probs.items():
                route = scores.setdefault(name, CaseScores(num_classes))
                route.add(p.argmax(0).numpy(), mask[0].numpy())
    routes = {name: route.summary() for name, route in scores.items()}
    finite = [c for c in correlations if np.isfinite(c)]
    return {
        "num_cases": len(pairs),
        "class_names": config.data.class_names,
        "routes": routes,
        "latent_correlation": float(np.mean(finite)) if finite else None,
        "limit": limiting_part(routes),
    }


def limiting_part(routes: dict) -> str:
    """A one-line reading of the routes: which part limits the sampled Dice."""
    ceiling = routes["autoencoder"]["mean_dice"]
    sampled = routes.get("K=2", next(iter(routes.values())))["mean_dice"]
    if ceiling is None or sampled is None:
        return "no foreground in the test cases"
    if ceiling - sampled > 0.05:
        return (
            f"the conditional denoiser: sampled Dice {sampled:.3f} is "
            f"{ceiling - sampled:.3f} below the autoencoder's {ceiling:.3f}"
        )
    return (
        f"the shape latent: sampled Dice {sampled:.3f} is within 0.05 of the autoencoder's "
        f"ceiling {ceiling:.3f}; a larger latent (smaller model.latent_factor) may help"
    )


def plot_diagnosis(result: dict, label: str, path: Path) -> Path:
    """Grouped bars: per-class Dice of each route."""
    routes = result["routes"]
    num_classes = len(routes["autoencoder"]["class_dice"])
    names = result["class_names"] or [f"class {c}" for c in range(num_classes)]
    classes = list(range(1, num_classes))
    fig = Figure(figsize=(7.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(routes)
    for i, (route, row) in enumerate(routes.items()):
        values = [row["class_dice"][c] or 0.0 for c in classes]
        ax.bar(np.array(classes) + (i - (len(routes) - 1) / 2) * width, values, width, label=route)
    ax.set_xticks(classes, [names[c] for c in classes])
    ax.set(ylim=(0, 1), ylabel="Dice", title=f"{label}: {result['limit']}")
    ax.title.set_fontsize(8)
    ax.legend(fontsize=8, ncols=3, loc="lower center")
    return save_figure(fig, path)


def run_diagnose(
    run: str | Path,
    cases: CaseSelection,
    out: ResultsFolder,
    ks: Sequence[int] = DEFAULT_STEPS,
    sampling: SamplingOptions | None = None,
    weights: str = "best",
) -> dict:
    """Diagnose a run on the cases; ``results.json`` and ``diagnose.png`` go to ``out``."""
    sampling = sampling or SamplingOptions()
    predictor = Predictor.from_run(run, weights)
    pairs = cases.pairs(predictor.config.data)
    if not pairs:
        raise LDSegError(f"{cases.data}: no image/mask pairs in split {cases.split!r}")
    result = diagnose(predictor, pairs, sorted(set(ks)), sampling)
    result |= {"run": str(run), "data": str(cases.data), "seed": sampling.seed, "weights": weights}
    result["sampler"] = sampling.sampler or predictor.config.sampling.sampler
    for route, row in result["routes"].items():
        classes = ", ".join(fmt(d, 3) for d in row["class_dice"][1:])
        print(f"{route:12s} mean Dice {fmt(row['mean_dice'])}  per class {classes}")
    print(f"latent correlation (K=2 vs encode(truth)): {fmt(result['latent_correlation'])}")
    print(f"limit: {result['limit']}")
    figure = plot_diagnosis(result, run_label(run), out.file("diagnose.png"))
    out.write("diagnose", result, [figure])
    return result
