"""Peak memory of one inference, each model in a fresh process: the number a user's machine needs;
and peak memory of training with the data in memory against read from disk when used.

    python benchmarks/memory.py            # 3D 128x128x256: ldseg (K=2), resunet, unet
    python benchmarks/memory.py --quick    # 3D 32x32x32 (seconds)
    python benchmarks/memory.py --training # 1 epoch on ACDC, data.cache memory and lazy
    python benchmarks/memory.py --training --quick   # tiny synthetic volumes (seconds)

``speed.py`` measures every model in one process, where memory freed by one model is reused
by the next, so its peak figures are growth, not need. Here each model runs in its own
process; the result is the process's peak resident set (``ru_maxrss``: Python, torch, the
model, the input and the inference together) and the part of it above the loaded model and
input. Weights are the default configuration's, freshly initialised. Writes
``benchmarks/results/memory[_quick].json``.

``--training`` runs ``ldseg train`` for one epoch (ACDC: ``configs/acdc.yaml``, ``train`` and
``val``) in a fresh process per ``data.cache`` mode and reports the training process's peak
resident set and its largest reader process's (``RUSAGE_CHILDREN``: the DataLoader workers
that read lazily loaded cases; they share the parent's pages until they write them). Writes
``memory_training[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from ldseg.experiments.results import environment
from ldseg.utils import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("ldseg", "resunet", "unet")

# Runs in the child process: build, load the input, then one inference; prints JSON.
CHILD = """
import json, resource, sys, time, torch
from ldseg.config import Config, DataConfig, ModelConfig
from ldseg.models import build_model

name, size = sys.argv[1], [int(n) for n in sys.argv[2].split("x")]
config = Config(model=ModelConfig(name=name, in_channels=1, num_classes=4))
config.data = DataConfig(size=size)
model = build_model(config).eval()
sampler = model.make_sampler("ddim", 2)
image = torch.rand(1, 1, *size, generator=torch.Generator().manual_seed(0))
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
with torch.no_grad():
    mask = model.sample(image, sampler, torch.Generator().manual_seed(0)).argmax(1)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"model": name, "size": size, "steps": 2 if sampler else None,
                  "process_peak_mib": round(peak, 1), "above_loaded_mib": round(peak - loaded, 1),
                  "seconds": round(seconds, 3), "mask_shape": list(mask.shape[1:])}))
"""


# Runs in the child process: ``ldseg train`` with argv[1:]; prints the peaks as JSON.
TRAIN_CHILD = """
import json, resource, sys, time
from ldseg import cli
start = time.perf_counter()
code = cli.main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
readers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"exit_code": code, "process_peak_mib": round(peak, 1),
                  "largest_reader_peak_mib": round(readers, 1),
                  "seconds": round(time.perf_counter() - start, 1)}))
"""
ACDC = Path(__file__).resolve().parents[2] / "shared" / "data" / "acdc"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def measure_training(quick: bool, work: Path) -> list[dict]:
    """Peak memory of one training epoch with ``data.cache`` memory and lazy."""
    if quick:
        from ldseg.data.synthetic import write_synthetic_dataset

        train = write_synthetic_dataset(work / "train", 6, (32, 32, 16), num_classes=3)
        val = write_synthetic_dataset(work / "val", 2, (32, 32, 16), num_classes=3, seed=1)
        preset = "model: {channels: [4, 8, 8, 8, 4], latent_factor: [4, 4, 2]}\n"
        preset += "data: {size: [32, 32, 16]}\ntrain: {batch_size: 2}\n"
        (work / "base.yaml").write_text(preset)
        base = work / "base.yaml"
    else:
        train, val, base = ACDC / "train", ACDC / "val", CONFIGS / "acdc.yaml"
    rows = []
    for cache in ("memory", "lazy"):
        (work / f"{cache}.yaml").write_text(f"data: {{cache: {cache}}}\n")
        args = ["train", "--data", str(train), "--val-data", str(val), "--epochs", "1"]
        args += ["--config", str(base), "--config", str(work / f"{cache}.yaml")]
        args += ["--out", str(work / f"run-{cache}"), "--quiet"]
        done = subprocess.run(
            [sys.executable, "-c", TRAIN_CHILD, *args], capture_output=True, text=True, check=True
        )
        rows.append({"cache": cache, **json.loads(done.stdout.strip().splitlines()[-1])})
    return rows


def measure(name: str, size: list[int]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, name, "x".join(map(str, size))],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="32x32x32 instead of 128x128x256")
    parser.add_argument(
        "--training", action="store_true", help="training memory, data in memory against lazy"
    )
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results)")
    args = parser.parse_args(argv)
    size = [32, 32, 32] if args.quick else [128, 128, 256]
    rows = []
    if args.training:
        with tempfile.TemporaryDirectory() as work:
            rows = measure_training(args.quick, Path(work))
    else:
        rows = [measure(name, size) for name in MODELS]
    for row in rows:
        print(json.dumps(row))
    record = {
        "benchmark": "memory",
        "command": shlex.join(["python", "benchmarks/memory.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "results": {"rows": rows},
    }
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    name = "memory_training" if args.training else "memory"
    path = out / f"{name}{'_quick' if args.quick else ''}.json"
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(f"results: {path}")
    return record


if __name__ == "__main__":
    main()
