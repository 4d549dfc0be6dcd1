"""Segment arrays and files with a trained run folder (nnU-Net style predictor object)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ldseg.config import Config
from ldseg.data.geometry import target_shape, window_inference
from ldseg.data.io import file_stem, mask_suffix, read_image, write_mask
from ldseg.data.transforms import preprocess_image, resize_probabilities
from ldseg.diffusion import make_sampler
from ldseg.errors import DataError, LDSegError, RunFolderError
from ldseg.model import LDSeg
from ldseg.models import build_model
from ldseg.training.checkpoint import load_model_tensors, load_weights


@dataclass
class Prediction:
    """A segmentation: class indices ``(*S)`` and class probabilities ``(C, *S)``.

    With several samples, ``probabilities`` is their mean, ``mask`` its argmax and ``std`` the
    per-pixel standard deviation over samples of the predicted class's probability ``(*S)``.
    """

    mask: np.ndarray
    probabilities: np.ndarray
    std: np.ndarray | None = None


@dataclass
class Trajectory:
    """The reverse process of one sample: the latent at each timestep and its decoded mask.

    ``timesteps[i]`` is the noise level of ``latents[i]`` (T for the initial noise, 0 for the
    final latent); ``masks[i]`` is ``argmax label_decoder(latents[i])`` at the input size.
    """

    timesteps: list[int]
    latents: list[np.ndarray]
    masks: list[np.ndarray]


class Predictor:
    """Loads a run folder (``config.json`` + ``.safetensors`` weights) and segments images.

    Example::

        predictor = Predictor.from_run("runs/camus")
        mask = predictor.predict_array(image).mask      # image: (C, H, W) or (H, W)
        predictor.predict_file("case.png", "predictions/")
    """

    def __init__(self, model: LDSeg, config: Config, device: str | torch.device = "cpu") -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.device = torch.device(device)

    @classmethod
    def from_run(
        cls, run_dir: str | Path, weights: str = "best", device: str | torch.device = "cpu"
    ) -> Predictor:
        """Load ``run_dir/config.json`` and ``run_dir/<weights>.safetensors`` (no pickle)."""
        run_dir = Path(run_dir)
        config_path = run_dir / "config.json"
        if not config_path.is_file():
            raise RunFolderError(f"{config_path}: not found; is {run_dir} a run folder?")
        try:
            config = Config.load(config_path)
        except LDSegError as err:
            raise RunFolderError(str(err)) from None
        if not (config.model.in_channels and config.model.num_classes):
            raise RunFolderError(f"{config_path}: in_channels and num_classes must be set")
        model = build_model(config)
        weights_path = run_dir / f"{weights}.safetensors"
        load_model_tensors(model, load_weights(weights_path), weights_path)
        return cls(model, config, device)

    def preprocess(
        self,
        image: np.ndarray,
        source: str | Path = "array",
        spacing: Sequence[float] | None = None,
    ) -> torch.Tensor:
        """An image ``(C, *S)`` or ``(*S)`` of voxel ``spacing``, normalised and resized to the
        training size (or, without ``data.resize``, kept or resampled to ``data.spacing``)."""
        cfg = self.config
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == cfg.spatial_dims:
            image = image[None]
        if image.ndim != cfg.spatial_dims + 1:
            raise DataError(
                f"{source}: expected a {cfg.spatial_dims}D image with a channel axis, "
                f"got shape {image.shape}"
            )
        size = target_shape(image.shape[1:], spacing, cfg.data)
        return preprocess_image(image, cfg.model.in_channels, cfg.data.intensity, size, source)

    def make_sampler(self, steps: int | None = None, sampler: str | None = None):
        """A DDIM/DDPM sampler with K = ``steps`` timesteps (defaults: the run's); None for a
        model without a noise schedule (a deterministic baseline)."""
        schedule = getattr(self.model, "schedule", None)
        if schedule is None:
            return None
        diffusion_sampler = make_sampler(sampler or self.config.sampling.sampler, schedule)
        diffusion_sampler.set_timesteps(steps or self.config.sampling.steps)
        return diffusion_sampler

    def _sample(
        self, images: torch.Tensor, diffusion_sampler, seeds: Sequence[int], **kwargs
    ) -> torch.Tensor:
        """``model.sample`` on a batch; an LDSeg latent starts from one noise draw per seed,
        drawn as ``LDSeg.sample`` draws it (other models get a generator seeded by the first)."""
        generators = [torch.Generator(device=self.device).manual_seed(s) for s in seeds[:1]]
        if isinstance(self.model, LDSeg):
            generators += [torch.Generator(device=self.device).manual_seed(s) for s in seeds[1:]]
            factor = self.model.latent_factor
            latent = [1, 1, *(s // f for s, f in zip(images.shape[2:], factor, strict=True))]
            noise = [torch.randn(latent, generator=g, device=self.device) for g in generators]
            kwargs["noise"] = torch.cat(noise)
            if "trajectory" in kwargs:
                kwargs["trajectory"].append(kwargs["noise"])
        return self.model.sample(images, diffusion_sampler, generators[0], **kwargs)

    @torch.no_grad()
    def sample_batch(
        self,
        images: torch.Tensor,
        steps: int | None = None,
        sampler: str | None = None,
        seeds: Sequence[int] = (0,),
        batch_size: int = 16,
    ) -> torch.Tensor:
        """Class probabilities ``(B, C, *size)`` of preprocessed images ``(B, C, *size)``.

        Image ``i`` starts from the noise seeded by ``seeds[i]``, the same noise
        :meth:`predict_array` draws for that seed (a single seed is used for every image);
        images run through the model ``batch_size`` at a time. Without ``data.resize`` each image
        goes through a sliding window, every window starting from its image's seed.
        """
        seeds = list(seeds) * len(images) if len(seeds) == 1 else list(seeds)
        if len(seeds) != len(images):
            raise ValueError(f"{len(seeds)} seeds for {len(images)} images")
        diffusion_sampler = self.make_sampler(steps, sampler)
        if not self.config.data.resize:
            return torch.cat(
                [
                    window_inference(
                        lambda w, s=s: self._sample(w, diffusion_sampler, [s]),
                        image[None].to(self.device),
                        self.config.data,
                    ).cpu()
                    for image, s in zip(images, seeds, strict=True)
                ]
            )
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size].to(self.device).contiguous()
            out.append(self._sample(chunk, diffusion_sampler, seeds[start:][:batch_size]).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def predict_array(
        self,
        image: np.ndarray,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        source: str | Path = "array",
        samples: int = 1,
        spacing: Sequence[float] | None = None,
    ) -> Prediction:
        """Segment one image ``(C, *S)`` (or ``(*S)`` for one channel) of any size.

        The image is normalised and resized to the training size, sampled with ``steps``
        DDIM/DDPM steps from noise seeded by ``seed``, and the probabilities are resized back.
        ``samples`` > 1 draws that many samples (seeds ``seed``, ``seed + 1``, ...) and returns
        their mean probabilities, its argmax and the per-pixel standard deviation (``std``).
        ``spacing`` is the image's voxel spacing, needed when the run resamples to a spacing.
        """
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        tensor = self.preprocess(image, source, spacing)
        shape = np.shape(image)[-self.config.spatial_dims :]
        total = torch.zeros(self.model.num_classes, *tensor.shape[1:], dtype=torch.float64)
        squares = torch.zeros_like(total)
        batch = tensor[None].expand(min(samples, 16), *tensor.shape)
        for start in range(0, samples, len(batch)):
            seeds = range(seed + start, seed + min(samples, start + len(batch)))
            probs = self.sample_batch(batch[: len(seeds)], steps, sampler, seeds).double()
            total += probs.sum(0)
            squares += (probs**2).sum(0)
        mean = resize_probabilities((total / samples).float(), shape)
        mask = mean.argmax(0)
        if samples == 1:
            return Prediction(mask.numpy().astype(np.uint8), mean.numpy())
        variance = (squares / samples - (total / samples) ** 2).clamp(min=0).float()
        std = resize_probabilities(variance.sqrt(), shape).gather(0, mask[None])[0]
        return Prediction(mask.numpy().astype(np.uint8), mean.numpy(), std.numpy())

    @torch.no_grad()
    def predict_trajectory(
        self,
        image: np.ndarray,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        source: str | Path = "array",
        max_frames: int = 50,
    ) -> tuple[Prediction, Trajectory]:
        """Segment like :meth:`predict_array` and keep the latent and its decoded mask at up to
        ``max_frames`` evenly spaced points of the reverse process (always the first and last)."""
        if not isinstance(self.model, LDSeg):
            raise LDSegError(
                f"a reverse-process trajectory needs an LDSeg run, not {type(self.model).__name__}"
            )
        tensor = self.preprocess(image, source)[None].to(self.device)
        shape = np.shape(image)[-self.config.spatial_dims :]
        diffusion_sampler = self.make_sampler(steps, sampler)
        latents: list[torch.Tensor] = []
        probs = self._sample(tensor, diffusion_sampler, [seed], trajectory=latents)[0].cpu()
        probs = resize_probabilities(probs, shape)
        timesteps = [*diffusion_sampler.timesteps.tolist(), 0]
        kept = np.unique(np.linspace(0, len(latents) - 1, max(max_frames, 2)).round().astype(int))
        masks = []
        for i in kept:
            decoded = torch.softmax(self.model.label_decoder(latents[i]), dim=1)[0].cpu()
            masks.append(resize_probabilities(decoded, shape).argmax(0).numpy().astype(np.uint8))
        trajectory = Trajectory(
            [timesteps[i] for i in kept], [latents[i][0, 0].cpu().numpy() for i in kept], masks
        )
        return Prediction(probs.argmax(0).numpy().astype(np.uint8), probs.numpy()), trajectory

    def predict_file(
        self,
        path: str | Path,
        out_dir: str | Path,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        samples: int = 1,
        save_uncertainty: bool = False,
        save_trajectory: bool = False,
    ) -> Path:
        """Segment an image file and write its mask into ``out_dir``: same stem, on the input's
        exact grid (PNG for rasters; NIfTI, MHA or NRRD with the input's geometry for volumes).

        ``samples`` > 1 writes the argmax of the mean of that many samples; ``save_uncertainty``
        (needs ``samples`` > 1) also writes the mean foreground probability and the per-pixel
        SD into ``out_dir/uncertainty``; ``save_trajectory`` writes a picture strip and a GIF of
        the reverse process (sample ``seed``) into ``out_dir/trajectory``.
        """
        if save_uncertainty and samples < 2:
            raise LDSegError("uncertainty maps need at least 2 samples")
        path, out_dir = Path(path), Path(out_dir)
        image, meta = read_image(path)
        stem = file_stem(path)
        if save_trajectory:
            from ldseg.experiments.trajectory import save_trajectory_figures

            prediction, trajectory = self.predict_trajectory(image, steps, sampler, seed, path)
            names = self.config.data.class_names
            save_trajectory_figures(image, trajectory, out_dir / "trajectory", stem, names)
        if samples > 1 or not save_trajectory:
            prediction = self.predict_array(
                image, steps, sampler, seed, path, samples, meta["spacing"]
            )
        if save_uncertainty:
            from ldseg.experiments.uncertainty import write_uncertainty_maps

            write_uncertainty_maps(prediction, path, out_dir / "uncertainty")
        return write_mask(prediction.mask, path, out_dir / f"{stem}{mask_suffix(path)}")

    def predict_files(
        self,
        paths: Sequence[str | Path],
        out_dir: str | Path,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
    ) -> list[Path]:
        """Segment several files into ``out_dir``."""
        return [self.predict_file(p, out_dir, steps, sampler, seed) for p in paths]
