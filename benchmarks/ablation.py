"""Ablation of ldseg's departures from the paper, beside the baselines, at one wall-clock budget.

    python benchmarks/ablation.py --dataset camus --minutes 8
    python benchmarks/ablation.py --dataset camus --variants paper,default --baselines resunet
    python benchmarks/ablation.py --dataset kvasir --minutes 8 --variants paper,default
    python benchmarks/ablation.py --dataset camus --quick     # seconds: the harness, not a result

Variants: ``paper`` is ``configs/paper.yaml``; ``paper+LEVER`` is the paper with one lever set to
ldseg's default value; ``default`` is ldseg's default (every lever); ``default-LEVER`` is the
default with one lever set back to the paper's. Each variant and baseline is trained from scratch
by ``benchmarks/accuracy.py``'s harness (same data split, budget, evaluation) in this process,
one after another; the JSON is rewritten after every row, so an interrupted table keeps its rows.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATASETS, ROOT, Limits, run
from ldseg.experiments.results import environment
from ldseg.utils import atomic_write_text

RESULTS = ROOT / "benchmarks" / "results"

# lever: the config keys it moves from the paper's values (configs/paper.yaml) to ldseg's defaults
LEVERS = {
    "latent8": ["model.latent_factor"],  # 16 -> 8 per axis (2D; the 3D presets set their own)
    "v": ["model.prediction"],  # eps -> v
    "x0": ["model.decoder_input"],  # z_minus_eps -> x0
    "path": ["model.sampling_path_share"],  # 0 -> 0.5
    "dropout0": ["model.dropout"],  # 0.2 -> 0
    "attention": ["model.max_attention_tokens"],  # every size -> at most 1024 tokens
    "zi8": ["model.image_latent_channels"],  # a 1-channel image latent -> 8 channels
    "zl4": ["model.label_latent_channels"],  # a 1-channel shape latent -> 4 channels
    "skips": ["model.decoder_image_skips"],  # the decoder sees the latent alone -> image skips too
    "stem": ["model.stem_stride"],  # a full-resolution first block -> stride 2
}
PRESET_KEYS = ("model.channels", "train.batch_size")  # CPU-sized in the native-grid presets


def paper_settings(dataset: str) -> dict[str, object]:
    """``configs/paper.yaml`` as ``SECTION.KEY`` settings (native-grid presets, ACDC: the preset's
    widths and batch, and in 3D its latent factor; slice-wise ACDC takes the paper's [16, 16])."""
    raw = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    settings = {
        f"{section}.{key}": value
        for section in ("model", "train")
        for key, value in raw[section].items()
    }
    preset, _, size = DATASETS[dataset]
    if size is None:
        dims = len(yaml.safe_load((ROOT / "configs" / preset).read_text())["data"]["size"])
        for key in (*PRESET_KEYS, *(["model.latent_factor"] if dims == 3 else [])):
            settings.pop(key)
    return settings


def variant_settings(variant: str, dataset: str) -> list[str]:
    """``--set`` strings for a variant name (see the module docstring)."""
    paper = paper_settings(dataset)
    if variant == "paper":
        chosen = paper
    elif variant == "default":
        chosen = {}
    elif variant.startswith(("paper+", "default-")):
        base, lever = variant.split("+" if variant.startswith("paper+") else "-", 1)
        if lever not in LEVERS:
            raise SystemExit(
                f"--variants {variant}: unknown lever {lever}; choose from {list(LEVERS)}"
            )
        keys = [k for k in LEVERS[lever] if k in paper]
        if not keys:
            raise SystemExit(f"--variants {variant}: lever {lever} does not apply to {dataset}")
        if base == "paper":
            chosen = {k: v for k, v in paper.items() if k not in keys}
        else:
            chosen = {k: paper[k] for k in keys}
    else:
        raise SystemExit(
            f"--variants {variant}: expected paper, default, paper+LEVER or default-LEVER"
        )
    return [f"{key}={json.dumps(value)}" for key, value in chosen.items()]


def table(rows: list[dict], class_names: list[str]) -> str:
    """A markdown table of the rows: per-class and mean foreground Dice, epochs, seconds."""
    head = "| variant | " + " | ".join(class_names[1:]) + " | mean fg | epochs | train s |"
    lines = [head, "|" + "---|" * (len(class_names) + 3)]
    for row in rows:
        dice = " | ".join(f"{d:.3f}" for d in row["dice"][1:])
        lines.append(
            f"| {row['variant']} | {dice} | **{row['mean_fg_dice']:.3f}** | {row['epochs']} "
            f"| {row['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument(
        "--variants",
        default="paper," + ",".join(f"paper+{lever}" for lever in LEVERS) + ",default",
        help="comma-separated variants (default: paper, each lever alone, default)",
    )
    parser.add_argument("--baselines", default="resunet,unet", help="comma-separated ('' for none)")
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per model")
    parser.add_argument("--quick", action="store_true", help="tiny subset, 6 s a model")
    parser.add_argument("--out", type=Path, help="results JSON (default: benchmarks/results/)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here")
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    baselines = [b for b in args.baselines.split(",") if b]
    jobs = [(v, "ldseg", variant_settings(v, args.dataset)) for v in variants]
    jobs += [(b, b, []) for b in baselines]
    minutes = 0.1 if args.quick else args.minutes
    suffix = "_quick" if args.quick else ""
    out = args.out or RESULTS / f"ablation_{args.dataset}{suffix}.json"
    record = {
        "benchmark": "ablation",
        "command": shlex.join(["python", "benchmarks/ablation.py", *(argv or sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **environment(),
        "dataset": args.dataset,
        "budget_minutes": minutes,
        "rows": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        for name, model, settings in jobs:
            result = run(
                args.dataset, [model], minutes, args.quick, work / name, settings, Limits()
            )
            row = {"variant": name, "settings": settings, **result["rows"][0]}
            record["rows"].append(row)
            record["class_names"] = result["class_names"]
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    print(table(record["rows"], record["class_names"]))
    print(f"results: {out}")
    return record


if __name__ == "__main__":
    main()
