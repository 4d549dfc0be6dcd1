"""``ldseg check-data``: read every pair of a dataset once and report whether it is usable."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ldseg.config import DataConfig
from ldseg.data.cases import read_case
from ldseg.data.layouts import DatasetSpec, discover
from ldseg.errors import DataError


@dataclass
class SplitSummary:
    """What one split holds: pairs, channel counts, sizes, spacings, label values, empty masks."""

    name: str
    pairs: int = 0
    unlabelled: int = 0
    channels: Counter = field(default_factory=Counter)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    spacings: list[tuple[float, ...]] = field(default_factory=list)
    labels: set[int] = field(default_factory=set)
    empty: int = 0
    problems: int = 0


@dataclass
class CheckResult:
    """The dataset, its per-split summaries, its classes and what makes it unusable."""

    spec: DatasetSpec
    splits: list[SplitSummary]
    num_classes: int
    declared: bool
    class_names: list[str] | None
    problems: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and any(s.pairs for s in self.splits)


def check_dataset(
    path: str | Path, data: DataConfig | None = None, num_classes: int = 0, progress: bool = True
) -> CheckResult:
    """Check a dataset with ``data``'s layout, binarize and class_mapping settings.

    ``num_classes`` 0 takes the classes from ``data.class_names``, dataset.json or the mapping,
    else infers them (largest label value + 1). Every problem names its file.
    """
    data = data or DataConfig()
    spec = discover(path, data.layout, strict=False)
    binarize = spec.binarize if data.binarize is None else data.binarize
    options = DataConfig(binarize=binarize, class_mapping=data.class_mapping)
    names = data.class_names or (None if data.class_mapping else spec.class_names)
    declared = num_classes or (len(names) if names else 0)
    if not declared and data.class_mapping:
        declared = max(data.class_mapping) + 1
    problems, notes = list(spec.problems), []
    summaries = []
    channels_of: list[tuple[SplitSummary, Path, int]] = []
    for split, pairs in spec.splits.items():
        summary = SplitSummary(split, len(pairs), len(spec.unlabelled.get(split, [])))
        for pair in tqdm(pairs, desc=f"checking {split}", leave=False, disable=not progress):
            try:
                image, mask, meta = read_case(pair, options)
            except DataError as err:
                problems.append(str(err))
                summary.problems += 1
                continue
            channels = image.shape[0]
            channels_of.append((summary, pair.image, channels))
            values = {int(v) for v in np.unique(mask)}
            if declared and max(values) >= declared:
                problems.append(
                    f"{pair.mask}: label values {sorted(values)} outside the declared classes "
                    f"0..{declared - 1}"
                )
                summary.problems += 1
            summary.channels[channels] += 1
            summary.shapes.append(tuple(mask.shape))
            summary.spacings.append(tuple(round(s, 4) for s in meta["spacing"]))
            summary.labels |= values
            summary.empty += max(values) == 0
        summaries.append(summary)
    problems += _odd_channels(channels_of)
    for split, images in spec.unlabelled.items():
        if split not in spec.splits:
            summaries.append(SplitSummary(split, 0, len(images)))
    found = set().union(*(s.labels for s in summaries))
    classes = declared or max(2, max(found, default=0) + 1)
    missing = sorted(set(range(classes)) - found)
    if missing and found:
        notes.append(f"class(es) {missing} never appear in the masks")
    if names and len(names) != classes:
        problems.append(f"{path}: {len(names)} class names for {classes} classes")
    if not any(s.pairs for s in summaries):
        problems.append(f"{path}: no image/mask pairs")
    return CheckResult(spec, summaries, classes, bool(declared), names, problems, notes)


def _odd_channels(channels_of: list[tuple[SplitSummary, Path, int]]) -> list[str]:
    """A problem for every image whose channel count differs from the most common one."""
    counts = Counter(channels for _, _, channels in channels_of)
    if len(counts) < 2:
        return []
    common, n = counts.most_common(1)[0]
    odd = []
    for summary, image, channels in channels_of:
        if channels != common:
            summary.problems += 1
            odd.append(
                f"{image}: has {channels} channels, {n} of {len(channels_of)} images have {common}"
            )
    return odd


def _range(values: list[tuple], fmt: str = "{}") -> str:
    if not values:
        return "-"
    low, high = np.min(values, axis=0), np.max(values, axis=0)
    text = "x".join(fmt.format(v) for v in low)
    return text if (low == high).all() else f"{text} .. " + "x".join(fmt.format(v) for v in high)


def format_check(result: CheckResult, shown: int = 20) -> str:
    """The summary table, the classes, the problems (``shown`` at most) and the verdict."""
    spec = result.spec
    lines = [f"dataset {spec.root} (layout {spec.layout})"]
    if spec.channel_names:
        lines.append(f"channels: {', '.join(spec.channel_names)}")
    lines += [
        "| split | pairs | images only | channels | size | spacing | labels | empty masks | bad |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result.splits:
        channels = ",".join(str(c) for c in sorted(s.channels)) or "-"
        labels = ",".join(str(v) for v in sorted(s.labels)) or "-"
        lines.append(
            f"| {s.name} | {s.pairs} | {s.unlabelled} | {channels} | {_range(s.shapes)} | "
            f"{_range(s.spacings, '{:g}')} | {labels} | {s.empty} | {s.problems} |"
        )
    names = result.class_names or [""] * result.num_classes
    listed = ", ".join(f"{i} {n}".strip() for i, n in enumerate(names))
    how = "declared" if result.declared else "inferred from the masks"
    lines.append(f"classes: {result.num_classes} ({how}): {listed}")
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"problem: {p}" for p in result.problems[:shown]]
    if len(result.problems) > shown:
        lines.append(f"... and {len(result.problems) - shown} more problem(s)")
    pairs = sum(s.pairs for s in result.splits)
    verdict = (
        f"usable: {pairs} pairs, {result.num_classes} classes"
        if result.ok
        else f"NOT usable: {len(result.problems)} problem(s)"
    )
    return "\n".join([*lines, verdict])
