"""Inference time and peak memory of every model on the same inputs, in one process.

    python benchmarks/speed.py            # 2D 128/256/512, 3D 64^3 and 128x128x256
    python benchmarks/speed.py --quick    # small sizes, one repeat (about a minute)

Time per image is the median of ``--repeats`` timed calls after one warm-up call, batch 1,
``torch.no_grad``; ``ldseg`` samples with 2 DDIM steps and ``pixel-diffusion`` with 50 (the
numbers the paper compares; pixel diffusion up to 256 x 256 only). Peak memory is the growth
over the loaded model during the warm-up and timed calls: resident set on the CPU
(``PeakRSS``), allocated device memory on a GPU (``--device cuda``). Weights are the default
configuration's, freshly initialised: time and memory do not depend on their values.
Training throughput (images per second, batch 4, forward + backward + Adam step) is measured
for ``ldseg`` and ``resunet``. The ratios the benchmarks README quotes are computed from
these numbers, measured in the same run.
Writes ``benchmarks/results/speed[_quick][_cuda].json`` and the ``.png`` beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from matplotlib.figure import Figure

from ldseg.config import Config, DataConfig, ModelConfig
from ldseg.experiments.measure import PeakRSS
from ldseg.experiments.results import environment
from ldseg.models import build_model
from ldseg.utils import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
STEPS = {"ldseg": 2, "pixel-diffusion": 50}
MODELS_2D = ("ldseg", "resunet", "unet", "pixel-diffusion")
MODELS_3D = ("ldseg", "resunet", "unet")  # pixel diffusion at 50 full-size 3D passes: minutes
PIXEL_DIFFUSION_MAX = 256 * 256  # 50 UNet passes at 512 x 512 take minutes per image on a CPU
FULL = {"2d": [(128, 128), (256, 256), (512, 512)], "3d": [(64, 64, 64), (128, 128, 256)]}
QUICK = {"2d": [(64, 64), (128, 128)], "3d": [(32, 32, 32)]}


def make(name: str, size: tuple[int, ...], steps: dict[str, int], device: torch.device):
    """A freshly initialised model of the default configuration and its sampler."""
    config = Config(model=ModelConfig(name=name, in_channels=1, num_classes=4))
    config.data = DataConfig(size=list(size))
    model = build_model(config).eval().to(device)
    return model, model.make_sampler("ddim", steps.get(name, 2))


class PeakCUDA(contextlib.AbstractContextManager):
    """Peak allocated CUDA memory above the level at entry."""

    def __enter__(self) -> PeakCUDA:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self.start = torch.cuda.memory_allocated()
        return self

    def __exit__(self, *exc) -> None:
        torch.cuda.synchronize()
        self.peak_mib = (torch.cuda.max_memory_allocated() - self.start) / 2**20


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_inference(
    name: str, size: tuple[int, ...], repeats: int, steps: dict, device: torch.device
) -> dict:
    model, sampler = make(name, size, steps, device)
    image = torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(0)).to(device)
    generator = torch.Generator(device).manual_seed(0)
    with torch.no_grad(), PeakCUDA() if device.type == "cuda" else PeakRSS() as memory:
        model.sample(image, sampler, generator)  # warm-up
        times = []
        for _ in range(repeats):
            synchronize(device)
            start = time.perf_counter()
            model.sample(image, sampler, generator)
            synchronize(device)
            times.append(time.perf_counter() - start)
    return {
        "model": name,
        "size": list(size),
        "steps": steps.get(name),
        "median_s": statistics.median(times),
        "times_s": times,
        "peak_mib": round(memory.peak_mib, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def training_throughput(
    name: str, size: tuple[int, ...], batches: int, device: torch.device
) -> float:
    """Images per second of forward + backward + Adam step, batch 4 (median over batches)."""
    model, _ = make(name, size, STEPS, device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    image = torch.rand(4, 1, *size).to(device)
    mask = torch.randint(0, 4, (4, 1, *size)).to(device)
    times = []
    for i in range(batches + 1):
        synchronize(device)
        start = time.perf_counter()
        loss = model(image, mask, generator=torch.Generator(device).manual_seed(i))
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
        synchronize(device)
        if i:  # the first batch warms up
            times.append(time.perf_counter() - start)
    return 4 / statistics.median(times)


def ratio(rows: list[dict], a: str, b: str, size: list[int]) -> float | None:
    found = {r["model"]: r["median_s"] for r in rows if r["size"] == size}
    return found[a] / found[b] if a in found and b in found else None


def plot(rows: list[dict], path: Path, device: str) -> None:
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for dims in (2, 3):
        for name in dict.fromkeys(r["model"] for r in rows):
            mine = [r for r in rows if r["model"] == name and len(r["size"]) == dims]
            if mine:
                pixels = [torch.Size(r["size"]).numel() for r in mine]
                steps = f", K={mine[0]['steps']}" if mine[0]["steps"] else ""
                style, label = ("o-" if dims == 2 else "s--"), f"{name}{steps} {dims}D"
                ax.plot(pixels, [r["median_s"] for r in mine], style, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("image size (pixels or voxels, log scale)")
    ax.set_ylabel("seconds per image (median, log scale)")
    ax.set_title(f"Inference time against image size ({device}, batch 1)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sizes = QUICK if args.quick else FULL
    repeats = 1 if args.quick else args.repeats
    steps = {"ldseg": 2, "pixel-diffusion": 5} if args.quick else STEPS
    rows = []
    for dims, models in (("2d", MODELS_2D), ("3d", MODELS_3D)):
        for size in sizes[dims]:
            for name in models:
                if name == "pixel-diffusion" and torch.Size(size).numel() > PIXEL_DIFFUSION_MAX:
                    continue
                rows.append(time_inference(name, size, repeats, steps, device))
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "times_s"}))
    train_size = sizes["2d"][0]
    throughput = {
        name: training_throughput(name, train_size, 2 if args.quick else 10, device)
        for name in ("ldseg", "resunet")
    }
    big, mid, volume = list(sizes["2d"][-1]), list(sizes["2d"][1]), list(sizes["3d"][-1])
    results = {
        "rows": rows,
        "training_images_per_s": {"size": list(train_size), **throughput},
        "ratios": {
            f"ldseg/resunet at {big}": ratio(rows, "ldseg", "resunet", big),
            f"pixel-diffusion/ldseg at {mid}": ratio(rows, "pixel-diffusion", "ldseg", mid),
        },
        "ldseg_3d_peak_mib": {
            str(volume): next(
                r["peak_mib"] for r in rows if r["size"] == volume and r["model"] == "ldseg"
            ),
        },
    }
    print(json.dumps(results["ratios"]), json.dumps(results["training_images_per_s"]))
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    suffix = ("_quick" if args.quick else "") + ("_cuda" if device.type == "cuda" else "")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    plot(rows, out / f"speed{suffix}.png", name)
    record = {
        "benchmark": "speed",
        "command": shlex.join(["python", "benchmarks/speed.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "results": results,
    }
    atomic_write_text(out / f"speed{suffix}.json", json.dumps(record, indent=2) + "\n")
    print(f"results: {out / f'speed{suffix}.json'}")
    return record


if __name__ == "__main__":
    main()
