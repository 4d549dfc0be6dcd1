"""A self-contained HTML evaluation report: summary table, per-case table and overlays of the
best, median and worst cases, with every picture embedded (opens without network access)."""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ldseg.config import DataConfig
from ldseg.data.cases import read_truth
from ldseg.data.formats import file_stem
from ldseg.data.pairing import list_images, list_masks, pair_files
from ldseg.data.readers import read_image, read_mask
from ldseg.evaluation.overlay import save_overlay
from ldseg.evaluation.surface import EMPTY_CLASS_RULE
from ldseg.utils import atomic_write_text, fmt

Sources = Mapping[str, tuple[Path, Path, Path]]  # case stem -> (image, prediction, truth) files

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f0f0f0; } td:first-child, table.summary td:nth-child(2) { text-align: left; }
tr.mean td { font-weight: bold; }
figure { display: inline-block; margin: 0.5em; text-align: center; }
img { max-width: 28em; } code { background: #f4f4f4; padding: 0 0.2em; }
"""


def ranked_cases(report: dict) -> list[tuple[str, dict]]:
    """The best, median and worst cases by foreground mean Dice (cases without one left out)."""
    scored = [c for c in report["cases"] if c["mean_dice"] is not None]
    scored.sort(key=lambda c: c["mean_dice"], reverse=True)
    if not scored:
        return []
    picks = [("best", scored[0]), ("median", scored[len(scored) // 2]), ("worst", scored[-1])]
    seen, unique = set(), []
    for label, case in picks:
        if case["case"] not in seen:
            seen.add(case["case"])
            unique.append((label, case))
    return unique


def _fmt(mean: float | None, std: float | None = None, digits: int = 4) -> str:
    """``mean ± std``; ``n/a`` without a mean."""
    if mean is None or std is None:
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt(std, digits)}"


def _summary_table(report: dict) -> str:
    surface = "mean_hd95" in report
    unit = html.escape(report.get("distance_unit", ""))
    head = ["class", "name", "Dice", "IoU"]
    head += [f"HD95 ({unit})", f"ASD ({unit})"] if surface else []
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in [*head, "cases"]) + "</tr>"]
    for index, cls in report["classes"].items():
        name = html.escape(cls.get("name") or "")
        cells = [index, name, _fmt(cls["dice"], cls["dice_std"]), _fmt(cls["iou"], cls["iou_std"])]
        if surface:
            cells += [_fmt(cls["hd95"], cls["hd95_std"], 2), _fmt(cls["asd"], cls["asd_std"], 2)]
        rows.append(_row([*cells, str(cls["num_cases"])]))
    mean = ["fg mean", "", _fmt(report["mean_dice"]), _fmt(report["mean_iou"])]
    if surface:
        mean += [_fmt(report["mean_hd95"], digits=2), _fmt(report["mean_asd"], digits=2)]
    rows.append(_row([*mean, str(report["num_cases"])], "mean"))
    return '<table class="summary">\n' + "\n".join(rows) + "\n</table>"


def _row(cells: list[str], css: str = "") -> str:
    tds = "".join(f"<td>{c}</td>" for c in cells)
    return f'<tr class="{css}">{tds}</tr>' if css else f"<tr>{tds}</tr>"


def _case_table(report: dict) -> str:
    metrics = {"dice": "Dice", "hd95": "HD95"} if "mean_hd95" in report else {"dice": "Dice"}
    classes = range(1, report["num_classes"])
    names = report.get("class_names") or [str(c) for c in range(report["num_classes"])]
    head = ["case", "mean Dice", *(f"{m} {names[c]}" for m in metrics.values() for c in classes)]
    rows = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for case in report["cases"]:
        values = [_fmt(case[m][c], digits=3) for m in metrics for c in classes]
        rows.append(_row([html.escape(case["case"]), _fmt(case["mean_dice"], digits=3), *values]))
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def folder_sources(images: str | Path, preds: str | Path, truths: str | Path) -> dict:
    """The image, prediction and truth files of each case of three folders, by stem."""
    image_by_stem = {file_stem(p): p for p in list_images(images)}
    pred_by_stem = {file_stem(p): p for p in list_masks(preds)}
    pairs = pair_files(list(image_by_stem.values()), list_masks(truths), truths)
    return {
        pair.stem: (pair.image, pred_by_stem[pair.stem], pair.mask)
        for pair in pairs
        if pair.stem in pred_by_stem
    }


def _overlays(
    report: dict, sources: Sources, class_names: list | None, data: DataConfig | None
) -> list[str]:
    """``<figure>`` elements with base64 PNG overlays of the ranked cases."""
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, case in ranked_cases(report):
            stem = case["case"]
            image, pred, truth = sources[stem]
            title = f"{label}: {stem}, mean Dice {case['mean_dice']:.3f}"
            path = save_overlay(
                read_image(image)[0],
                read_mask(pred),
                Path(tmp) / f"{label}.png",
                read_truth(truth, data)[0],
                title,
                class_names,
            )
            data_uri = base64.b64encode(path.read_bytes()).decode("ascii")
            caption = html.escape(title)
            figures.append(
                f'<figure><img alt="{caption}" src="data:image/png;base64,{data_uri}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    return figures


def write_html_report(
    report: dict,
    out_path: str | Path,
    sources: Sources | None = None,
    title: str = "LDSeg evaluation",
    command: str | None = None,
    data: DataConfig | None = None,
) -> Path:
    """Write ``report`` (from :func:`ldseg.evaluation.evaluate_masks`) as one HTML file.

    With ``sources`` (each case's image, prediction and truth files; see
    :func:`folder_sources`) it shows overlays (prediction filled, truth outlined, read with
    ``data``'s settings) of the best, median and worst cases by foreground mean Dice.
    """
    names = report.get("class_names")
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{report['num_cases']} cases, {report['num_classes']} classes (0 = background). "
        "Mean ± standard deviation over cases; the foreground mean averages the class means "
        "of classes 1 and up.</p>",
    ]
    if command:
        parts.append(f"<p>Command: <code>{html.escape(command)}</code></p>")
    parts += ["<h2>Summary</h2>", _summary_table(report)]
    parts.append(f"<p><b>Empty classes.</b> {html.escape(EMPTY_CLASS_RULE)}</p>")
    parts.append("<h2>Best, median and worst cases</h2>")
    if sources:
        parts.append("<p>Prediction filled, truth outlined; 3D shows the middle slice.</p>")
        parts += _overlays(report, sources, names, data)
    else:
        parts.append("<p>No overlays: give the image folder (<code>--images</code>).</p>")
    parts += ["<h2>Per case</h2>", "<details><summary>show</summary>", _case_table(report)]
    parts.append("</details>")
    body = "\n".join(parts)
    text = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
    return atomic_write_text(Path(out_path), text)
