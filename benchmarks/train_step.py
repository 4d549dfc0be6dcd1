"""Training-step time of ldseg and resunet at each preset's shapes, for one or two source trees.

    python benchmarks/train_step.py                        # this tree
    git worktree add /tmp/before cf64b93                   # a commit to compare with
    python benchmarks/train_step.py --before /tmp/before/src
    python benchmarks/train_step.py --quick                # seconds: the harness, not a result
    python benchmarks/train_step.py --cases acdc --set "model.latent_factor=[8, 8, 2]"

One step is what the trainer does per batch: forward (the training loss), backward, the
trainer's optimiser step (``ldseg.training.optimizer.build_optimizer``; plain Adam in trees
that predate it) and the EMA update of the model's ``ema_target``, at the preset's batch size and
the training-crop size of ``accuracy.py``'s ``DATASETS`` (the preset and its size), on
random inputs: the time does not depend on the values. ``--set SECTION.KEY=VALUE`` changes the
preset as in ``accuracy.py`` (every tree and model). An ldseg step varies with how many cases
of its batch take the sampling path (each with probability ``model.sampling_path_share``), so
at small batches (ACDC 3D: 2) give more ``--repeats``, or read a training run's epoch times.
Each measurement runs in a fresh subprocess that imports ``ldseg`` from the given source tree
(recorded as ``ldseg_file``): two warm-up steps, then the median of ``--repeats`` timed steps.
With ``--before`` the trees alternate for ``--rounds`` rounds, so both see the same machine
state; the table reports the median over rounds and the before / after ratio.
Writes ``benchmarks/results/train_step*.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# case (a key of accuracy.py's DATASETS): image channels and classes of its data
CASES = {"camus": (1, 4), "kvasir": (3, 2), "acdc-2d": (1, 4), "acdc": (1, 4)}
MODELS = ("ldseg", "resunet")


def worker(job: dict) -> dict:
    """Time training steps of one model (``job``: see ``measure``) with the ``ldseg`` on
    ``sys.path``; imports nothing else of this tree, which that ``ldseg`` may predate."""
    import torch

    import ldseg
    from ldseg.config import Config
    from ldseg.models import build_model
    from ldseg.training.ema import ema_model

    try:
        from ldseg.training.optimizer import build_optimizer
    except ModuleNotFoundError:  # a tree before it: the trainer's plain Adam

        def build_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
            return torch.optim.Adam(model.parameters(), lr=lr)

    in_channels, num_classes, size = job["in_channels"], job["num_classes"], job["size"]
    config = Config.load_presets([ROOT / "configs" / job["preset"]])
    config.model.name = job["model"]
    config.model.in_channels, config.model.num_classes = in_channels, num_classes
    if job["quick"]:
        size, config.train.batch_size = [32] * len(config.data.size), 2
    config.data.size = size or config.data.size
    if job["settings"]:
        from accuracy import with_settings  # beside this file, so on sys.path

        config = with_settings(config, job["settings"])
    torch.manual_seed(0)
    model = build_model(config).train()
    optimizer = build_optimizer(model, config.train.lr)
    target = model.ema_target and model.get_submodule(model.ema_target)
    ema = ema_model(target, config.train.ema_decay) if target else None
    batch = config.train.batch_size
    image = torch.randn(batch, in_channels, *config.data.size)
    mask = torch.randint(0, num_classes, (batch, 1, *config.data.size))

    try:
        from ldseg.training.trainer import AUTOCAST_DTYPES
    except ImportError:  # a tree before train.precision: fp32
        AUTOCAST_DTYPES = {"fp32": None}
    precision = getattr(config.train, "precision", "fp32")
    dtype = AUTOCAST_DTYPES[precision]

    def step() -> float:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(image.device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(image, mask).total
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema.update_parameters(target)
        return time.perf_counter() - start

    for _ in range(2):
        step()
    times = [step() for _ in range(job["repeats"])]
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        "batch_size": batch,
        "size": config.data.size,
        "settings": job["settings"],
        "precision": precision,
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "ldseg_file": ldseg.__file__,
    }


def measure(
    source: Path, case: str, model: str, repeats: int, quick: bool, settings: list[str]
) -> dict:
    """``worker`` in a subprocess that imports ``ldseg`` from ``source``."""
    from accuracy import DATASETS

    preset, _, size = DATASETS[case]
    in_channels, num_classes = CASES[case]
    job = {"preset": preset, "size": size, "in_channels": in_channels}
    job |= {"num_classes": num_classes, "model": model, "repeats": repeats, "quick": quick}
    job["settings"] = settings
    env = {**os.environ, "PYTHONPATH": str(source)}
    args = [sys.executable, __file__, "--worker", json.dumps(job)]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{source}: {case} {model} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated: {list(CASES)}")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--before", type=Path, help="a source tree (its src/) to compare with")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per tree and model")
    parser.add_argument("--quick", action="store_true", help="32-pixel inputs, batch 2, 1 round")
    parser.add_argument("--out", type=Path, help="results folder (default: benchmarks/results/)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="change the preset"
    )
    parser.add_argument("--worker", type=json.loads, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return {}
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # accuracy.py, in measure
    from ldseg.experiments.results import environment
    from ldseg.utils import atomic_write_text

    cases, models = args.cases.split(","), args.models.split(",")
    for case in cases:
        if case not in CASES:
            raise SystemExit(f"--cases: unknown case {case}; choose from {list(CASES)}")
    trees = {"after": ROOT / "src", **({"before": args.before.resolve()} if args.before else {})}
    rounds, repeats = (1, 2) if args.quick else (args.rounds, args.repeats)
    runs: dict[tuple[str, str, str], list[dict]] = {}
    for _ in range(rounds):
        for case in cases:
            for model in models:
                for tree, source in trees.items():
                    result = measure(source, case, model, repeats, args.quick, args.set)
                    runs.setdefault((tree, case, model), []).append(result)
    rows = []
    for case in cases:
        for model in models:
            row = {"case": case, "model": model}
            for tree in trees:
                found = runs[tree, case, model]
                row[f"{tree}_s"] = statistics.median(r["median_s"] for r in found)
                row[f"{tree}_runs"] = found
            if "before" in trees:
                row["before/after"] = row["before_s"] / row["after_s"]
            rows.append(row)
    record = {
        "benchmark": "train_step",
        "command": shlex.join(["python", "benchmarks/train_step.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "rows": rows,
    }
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    name = "train_step_quick.json" if args.quick else "train_step.json"
    atomic_write_text(out / name, json.dumps(record, indent=2) + "\n")
    for row in rows:
        ratio = f"  before/after {row['before/after']:.2f}" if "before/after" in row else ""
        before = f"  before {row['before_s']:.3f} s" if "before_s" in row else ""
        print(f"{row['case']:8s} {row['model']:8s} after {row['after_s']:.3f} s{before}{ratio}")
    return record


if __name__ == "__main__":
    main()
