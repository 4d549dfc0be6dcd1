"""``ldseg experiment NAME``: each experiment's options; the run goes to ``EXPERIMENTS[NAME]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ldseg.cli.common import (
    add_run_options,
    at_least,
    comma_list,
    command_line,
    count,
    non_negative,
    positive_int,
)
from ldseg.utils import free_dir

GLOBAL_OPTIONS = ("command", "experiment", "debug", "argv", "handler", "out")
SAMPLING_OPTIONS = ("steps", "sampler", "seed", "samples")  # one SamplingOptions
SELECTION_OPTIONS = ("data", "split", "max_cases")  # one CaseSelection
# What each experiment writes into --out besides results.json (evaluate's predictions are
# checked by predict's own guard).
OUTPUTS = {
    "evaluate": ("evaluation.json", "evaluation.csv", "report.html"),
    "steps": ("steps.png",),
    "noise": ("noise.png",),
    "timing": ("timing.png",),
    "diagnose": ("diagnose.png",),
    "uncertainty": ("uncertainty_maps.png", "uncertainty_roc.png"),
    "postprocess": (),
}
# Experiments that write a file into the run folder: postprocess writes RUN/postprocessing.json.
RUN_OUTPUTS = {"postprocess": ("postprocessing.json",)}


def add_parser(sub: argparse._SubParsersAction) -> None:
    experiment = sub.add_parser(
        "experiment", help="the paper's experiments; each writes results.json and figures"
    )
    names = experiment.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    one_k = {"type": positive_int, "help": "sampling steps K (default: the run's)"}

    def add(name: str, help: str, several_runs: bool = False, data: bool = True):
        parser = names.add_parser(name, help=help)
        if several_runs:
            parser.add_argument(
                "--run",
                dest="runs",
                metavar="RUN",
                type=Path,
                action="append",
                required=True,
                help="trained run folder (repeat the option for several)",
            )
        else:
            parser.add_argument("--run", type=Path, required=True, help="trained run folder")
        if data:
            parser.add_argument(
                "--data",
                type=Path,
                required=True,
                help="test set: a folder with images/ and masks/, or any layout check-data knows",
            )
            parser.add_argument(
                "--split", default="val", help="split of a dataset with splits (default: val)"
            )
        parser.add_argument(
            "--out", type=Path, help=f"output folder (default: ./ldseg-{name}, or the next free)"
        )
        add_run_options(parser, sampler_help="default: the run's")
        parser.set_defaults(handler=_run)
        return parser

    def seeded(parser: argparse.ArgumentParser, max_cases: bool = True) -> None:
        parser.add_argument("--seed", type=count, default=0, help="seed of the initial noise")
        if max_cases:
            parser.add_argument(
                "--max-cases", type=positive_int, help="use only the first N test cases"
            )

    evaluate = add("evaluate", "accuracy table: Dice, IoU, HD95, ASD, per-case CSV, report.html")
    evaluate.add_argument("--steps", **one_k)
    seeded(evaluate, max_cases=False)
    steps = add("steps", "Dice and time per image against the number of sampling steps K")
    steps.add_argument(
        "--steps",
        dest="ks",
        metavar="STEPS",
        type=comma_list(positive_int),
        help="values of K (default: 1,2,5,10,20,50,100,1000)",
    )
    steps.add_argument("--repeats", type=positive_int, default=3, help="timed runs after a warm-up")
    seeded(steps)
    noise = add("noise", "Dice against Gaussian noise added to the test images", True)
    noise.add_argument(
        "--sigmas", type=comma_list(non_negative), help="noise SDs (default: 0,0.05,0.1,0.15,0.2)"
    )
    noise.add_argument("--steps", **one_k)
    seeded(noise)
    timing = add("timing", "time per image and peak memory against image size", True, False)
    sizes_help = "sizes N or NxN[xN] (default: 128,256,512 in 2D; 32,64,128 in 3D)"
    timing.add_argument("--sizes", type=comma_list(str), help=sizes_help)
    timing.add_argument("--steps", **one_k)
    timing.add_argument(
        "--repeats", type=positive_int, default=5, help="timed runs after a warm-up"
    )
    diagnose = add(
        "diagnose",
        "what limits a run: label autoencoder ceiling, sampler at each K, the t = T map",
    )
    diagnose.add_argument(
        "--steps",
        dest="ks",
        metavar="STEPS",
        type=comma_list(positive_int),
        help="values of K (default: 1,2,50)",
    )
    seeded(diagnose)
    uncertainty = add("uncertainty", "uncertainty maps; does the SD point at errors?")
    uncertainty.add_argument("--samples", type=at_least(2), default=20, help="samples per image")
    uncertainty.add_argument("--steps", **one_k)
    seeded(uncertainty)
    postprocess = add(
        "postprocess",
        "decide the largest-component post-processing on labelled cases; writes "
        "RUN/postprocessing.json",
    )
    postprocess.add_argument("--steps", **one_k)
    seeded(postprocess)


def _run(args: argparse.Namespace) -> int:
    """Call the experiment with its options: the sampling options as one ``SamplingOptions``,
    the test set as one ``CaseSelection``, ``--out`` and the command line as one
    ``ResultsFolder``, every other option as the parameter of its name (an option not given
    leaves the experiment's default)."""
    from ldseg.experiments.common import CaseSelection  # imported when run: torch
    from ldseg.experiments.registry import EXPERIMENTS  # imported when run: matplotlib
    from ldseg.experiments.results import ResultsFolder
    from ldseg.inference import SamplingOptions
    from ldseg.runs.guard import check_outputs

    options = {k: v for k, v in vars(args).items() if k not in GLOBAL_OPTIONS and v is not None}
    out = args.out or free_dir(f"ldseg-{args.experiment}")
    runs = getattr(args, "runs", None) or [args.run]
    weights = f"{args.weights}.safetensors"
    inputs = [Path(run) / name for run in runs for name in ("config.json", weights)]
    outputs = [out / name for name in ("results.json", *OUTPUTS[args.experiment])]
    outputs += [Path(run) / name for run in runs for name in RUN_OUTPUTS.get(args.experiment, ())]
    own = runs if args.experiment in RUN_OUTPUTS else []
    data = [args.data] if getattr(args, "data", None) else []
    check_outputs(outputs, [*inputs, *data], own=own)
    sampling = {k: options.pop(k) for k in SAMPLING_OPTIONS if k in options}
    options["sampling"] = SamplingOptions(**sampling)
    if "data" in options:
        selection = {k: options.pop(k) for k in SELECTION_OPTIONS if k in options}
        options["cases"] = CaseSelection(**selection)
    EXPERIMENTS[args.experiment](out=ResultsFolder(out, command_line(args)), **options)
    print(f"results: {out / 'results.json'}")
    return 0
