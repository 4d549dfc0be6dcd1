"""``ldseg evaluate``: a folder of predicted masks against a folder of truth masks."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ldseg.cli.common import classes, command_line, finite
from ldseg.utils import fmt


def add_parser(sub: argparse._SubParsersAction) -> None:
    evaluate = sub.add_parser("evaluate", help="Dice and IoU of predicted masks against truth")
    evaluate.add_argument("--pred", type=Path, required=True, help="folder of predicted masks")
    evaluate.add_argument("--truth", type=Path, required=True, help="folder of true masks")
    evaluate.add_argument(
        "--classes", type=classes, help="number of classes (default: from the data)"
    )
    settings = evaluate.add_mutually_exclusive_group()
    settings.add_argument(
        "--run",
        type=Path,
        help="run folder whose data settings (binarize, class mapping), classes and class names "
        "apply to the truth masks, as training read its masks",
    )
    settings.add_argument(
        "--config",
        type=Path,
        action="append",
        metavar="FILE",
        help="YAML or JSON preset (configs/) or a run's config.json whose data settings, classes "
        "and class names apply to the truth masks (for predictions made elsewhere); repeat it "
        "to layer presets",
    )
    evaluate.add_argument(
        "--binarize",
        type=finite,
        metavar="T",
        help="truth foreground is mask > T (127 for JPEG or 0/255 masks; default: the run's)",
    )
    evaluate.add_argument(
        "--out", type=Path, help="JSON report (default: PRED/evaluation.json); CSV beside it"
    )
    evaluate.add_argument(
        "--report", action="store_true", help="also write report.html beside the JSON report"
    )
    evaluate.add_argument("--images", type=Path, help="image folder, for the report's overlays")
    evaluate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ldseg.evaluation import evaluate_masks, format_report, pair_folders
    from ldseg.runs.guard import check_outputs

    data, classes, names = None, args.classes, None
    inputs: list[Path] = list(args.config or [])
    config = None
    if args.run is not None:
        from ldseg.runs import RunFolder

        folder = RunFolder(args.run)
        config = folder.load_config()
        inputs.append(folder.config_path)
    elif args.config:
        from ldseg.config import Config

        config = Config.load_presets(args.config)
    if config is not None:
        data, classes = config.data, classes or config.model.num_classes or None
        if config.data.class_names and len(config.data.class_names) == classes:
            names = config.data.class_names
    if args.binarize is not None:
        from ldseg.config import DataConfig

        data = dataclasses.replace(data or DataConfig(), binarize=args.binarize)
    out = args.out or args.pred / "evaluation.json"
    pairs = pair_folders(args.pred, args.truth)
    inputs += [path for pair in pairs for path in (pair.image, pair.mask)]
    outputs = [out, out.with_suffix(".csv")]
    if args.report:
        outputs.append(out.with_name("report.html"))
    check_outputs(outputs, [*inputs, *([args.images] if args.images else [])])
    report = evaluate_masks(pairs, classes, out, names, surface=True, data=data)
    print(format_report(report))
    print(f"report: {out} (per case: {out.with_suffix('.csv')})")
    unit = report["distance_unit"]
    print(f"fg mean HD95 {fmt(report['mean_hd95'])} {unit}, ASD {fmt(report['mean_asd'])} {unit}")
    if args.report:
        from ldseg.evaluation.report import folder_sources, write_html_report

        html = out.with_name("report.html")
        sources = folder_sources(args.images, args.pred, args.truth) if args.images else None
        write_html_report(report, html, sources, command=command_line(args), data=data)
        print(f"HTML report: {html}")
    return 0
