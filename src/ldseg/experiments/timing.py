"""Time per image and peak memory against image size (the paper's Table IV and Figure 6b).

Each (run, size) is measured in a fresh Python process, because peak resident memory
(``getrusage`` max RSS) only ever grows within a process. The networks run at the given size
itself (they are fully convolutional), not at the run's training size. Reported memory:
``peak_rss_mib``, the process's peak, and ``inference_mib``, that peak minus the peak before
the first sample (after importing torch and loading the model), i.e. what sampling added.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from ldseg.errors import LDSegError
from ldseg.evaluation.overlay import save_figure
from ldseg.experiments.common import run_label
from ldseg.experiments.measure import median_seconds
from ldseg.experiments.results import ResultsFolder
from ldseg.inference.results import SamplingOptions
from ldseg.runs import RunFolder

DEFAULT_SIZES = {2: ("128", "256", "512"), 3: ("32", "64", "128")}


def parse_shape(size: str, spatial_dims: int) -> tuple[int, ...]:
    """``"256"`` -> a square/cube of side 256; ``"128x128x256"`` -> that shape."""
    try:
        shape = tuple(int(s) for s in size.lower().split("x"))
    except ValueError:
        raise LDSegError(
            f"size {size!r}: expected N or N x N [x N], e.g. 256 or 128x128x64"
        ) from None
    if len(shape) == 1:
        shape *= spatial_dims
    if len(shape) != spatial_dims or min(shape) < 1:
        raise LDSegError(f"size {size!r} does not describe a {spatial_dims}D image")
    return shape


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(
    run: str, shape: Sequence[int], steps: int, sampler: str, repeats: int, weights: str
) -> dict:
    """Time ``LDSeg.sample`` on one random image of ``shape`` and record peak memory (call this
    in a fresh process; see the module docstring)."""
    import torch

    from ldseg.inference import Predictor

    predictor = Predictor.from_run(run, weights)
    model = predictor.model
    model.check_size(shape)
    image = torch.rand(1, predictor.config.model.in_channels, *shape)
    diffusion_sampler = predictor.pipeline(steps, sampler).sampler
    before = _max_rss_mib()

    def sample() -> None:
        with torch.no_grad():
            model.sample(image, diffusion_sampler, torch.Generator().manual_seed(0))

    timing = median_seconds(sample, repeats)
    peak = _max_rss_mib()
    return {"peak_rss_mib": peak, "inference_mib": peak - before, **timing}


def _measure_in_subprocess(run: Path, shape: tuple[int, ...], args: dict) -> dict:
    job = json.dumps({"run": str(run), "shape": list(shape), **args})
    proc = subprocess.run(
        [sys.executable, "-m", "ldseg.experiments.timing", job], capture_output=True, text=True
    )
    if proc.returncode:
        tail = " ".join(proc.stderr.strip().splitlines()[-1:])
        raise LDSegError(f"{run}: timing at size {shape} failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def plot_timing(curves: Sequence[dict], path: Path) -> Path:
    """Time per image and sampling memory against the number of pixels/voxels, one curve a run."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    time_ax, memory_ax = fig.subplots(1, 2)
    for curve in curves:
        sizes = [math.prod(row["shape"]) for row in curve["rows"]]
        label = f"{curve['label']} ({curve['spatial_dims']}D, K={curve['steps']})"
        time_ax.plot(sizes, [row["median_s"] for row in curve["rows"]], "o-", label=label)
        memory_ax.plot(sizes, [row["inference_mib"] for row in curve["rows"]], "o-", label=label)
        for row, n in zip(curve["rows"], sizes, strict=True):
            text = "x".join(map(str, row["shape"]))
            time_ax.annotate(text, (n, row["median_s"]), fontsize=7)
    time_ax.set_yscale("log")
    time_ax.set_ylabel("seconds per image (log scale)")
    memory_ax.set_ylabel("memory added by sampling (MiB)")  # can be 0 for tiny inputs
    for ax in (time_ax, memory_ax):
        ax.set_xscale("log")
        ax.set_xlabel("image size (pixels or voxels, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title="run", fontsize=8)
    time_ax.set_title("Time per image (median after warm-up)")
    memory_ax.set_title("Peak memory of sampling")
    return save_figure(fig, path)


def run_timing(
    runs: Sequence[str | Path],
    out: ResultsFolder,
    sizes: Sequence[str] | None = None,
    sampling: SamplingOptions | None = None,
    repeats: int = 5,
    weights: str = "best",
) -> dict:
    """Measure every run at every size (default: 128, 256, 512 in 2D; 32, 64, 128 cubed in 3D)
    with ``sampling``'s K and sampler (default: each run's); write ``timing.png`` and
    ``results.json``."""
    sampling = sampling or SamplingOptions()
    curves = []
    for run in map(Path, runs):
        config = RunFolder(run).load_config()
        dims = config.spatial_dims
        args = {
            "steps": sampling.steps or config.sampling.steps,
            "sampler": sampling.sampler or config.sampling.sampler,
            "repeats": repeats,
            "weights": weights,
        }
        rows = []
        for size in sizes or DEFAULT_SIZES[dims]:
            shape = parse_shape(size, dims)
            rows.append({"shape": list(shape), **_measure_in_subprocess(run, shape, args)})
            print(
                f"{run_label(run)}  {'x'.join(map(str, shape))}  {rows[-1]['median_s']:.4f} s  "
                f"peak {rows[-1]['peak_rss_mib']:.0f} MiB (+{rows[-1]['inference_mib']:.0f})"
            )
        curve = {"run": str(run), "label": run_label(run), "spatial_dims": dims}
        curves.append(curve | {"steps": args["steps"], "sampler": args["sampler"], "rows": rows})
    results = {
        "repeats": repeats,
        "timing": f"LDSeg.sample on one random image, median of {repeats} after 1 warm-up",
        "memory": "max RSS of a fresh process per size; inference_mib = peak minus the peak "
        "before the first sample",
        "curves": curves,
    }
    figure = plot_timing(curves, out.file("timing.png"))
    out.write("timing", results, [figure])
    return results


if __name__ == "__main__":  # worker: python -m ldseg.experiments.timing '<job JSON>'
    job = json.loads(sys.argv[1])
    result = measure(
        job["run"], job["shape"], job["steps"], job["sampler"], job["repeats"], job["weights"]
    )
    print(json.dumps(result))
