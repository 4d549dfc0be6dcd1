"""Cross-validation folds: the cases of a training set split into N folds by patient.

A case's group is the patient (or subject) its stem names: a stem that begins with
``patient``, ``subject``, ``sub`` or ``case`` and a number (after an optional ``-`` or ``_``)
belongs to that prefix, e.g. ``patient001_frame01`` (ACDC) -> ``patient001``,
``patient0001_2CH_ED`` (CAMUS) -> ``patient0001``, ``sub-01_T1w`` -> ``sub-01``; any other
stem (an nnU-Net case id) is its own group. The splits have nnU-Net's ``splits_final.json``
shape: a list of N ``{"train": [stems], "val": [stems]}``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ldseg.data.pairing import Pair
from ldseg.errors import DataError

GROUP_PATTERN = re.compile(r"^((?:patient|subject|sub|case)[-_]?\d+)(?!\d)", re.IGNORECASE)

Splits = list[dict[str, list[str]]]


def case_group(stem: str) -> str:
    """The patient a case belongs to (see the module docstring); the stem itself otherwise."""
    match = GROUP_PATTERN.match(stem)
    return match.group(1) if match else stem


def unique_stems(pairs: Sequence[Pair]) -> list[str]:
    """The stems of ``pairs``, which folds name cases by: every one must be unique."""
    stems = [pair.stem for pair in pairs]
    seen: set[str] = set()
    for pair in pairs:
        if pair.stem in seen:
            raise DataError(
                f"{pair.image}: a second case with the stem {pair.stem!r} (folds name cases by it)"
            )
        seen.add(pair.stem)
    return stems


def make_folds(stems: Sequence[str], folds: int, seed: int) -> Splits:
    """Split ``stems`` into ``folds`` folds of whole groups, deterministically from the sorted
    groups and ``seed``: the groups in a seeded order, largest first, each into the fold that
    has the fewest cases so far (the first such fold)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for stem in sorted(stems):
        groups[case_group(stem)].append(stem)
    if len(groups) < folds:
        raise DataError(
            f"--folds {folds}: the training data has only {len(groups)} patients or cases"
        )
    names = sorted(groups)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order.sort(key=lambda name: -len(groups[name]))  # stable: the seeded order within a size
    val: list[list[str]] = [[] for _ in range(folds)]
    for name in order:
        min(val, key=len).extend(groups[name])
    every = sorted(stems)
    return [{"train": sorted(set(every) - set(v)), "val": sorted(v)} for v in val]


def read_splits(path: Path, stems: Sequence[str]) -> Splits:
    """A ``splits.json`` (nnU-Net's shape), checked against the training cases ``stems``: at
    least 2 folds whose validation cases are disjoint and cover every case, each fold training
    on the rest."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the splits ({err})") from None
    shape = isinstance(raw, list) and len(raw) >= 2
    shape = shape and all(isinstance(f, dict) and set(f) == {"train", "val"} for f in raw)
    if not shape or not all(
        isinstance(names, list) and all(isinstance(n, str) for n in names)
        for fold in raw
        for names in fold.values()
    ):
        raise DataError(f'{path}: must be a list of 2 or more {{"train": [...], "val": [...]}}')
    every, seen = set(stems), set()
    for index, fold in enumerate(raw):
        unknown = sorted(set(fold["train"] + fold["val"]) - every)
        if unknown:
            raise DataError(f"{path}: fold {index} names {unknown[0]!r}, not a training case")
        twice = sorted(seen & set(fold["val"]))
        if twice:
            raise DataError(f"{path}: {twice[0]!r} is a validation case of two folds")
        seen |= set(fold["val"])
        if set(fold["train"]) != every - set(fold["val"]):
            raise DataError(f"{path}: fold {index} must train on every case outside its val")
    missing = sorted(every - seen)
    if missing:
        raise DataError(f"{path}: {missing[0]!r} is in no fold's validation cases")
    return raw


def fold_pairs(pairs: Sequence[Pair], splits: Splits, fold: int) -> tuple[list[Pair], list[Pair]]:
    """The training and validation pairs of fold ``fold`` (in the order of ``pairs``)."""
    val = set(splits[fold]["val"])
    return [p for p in pairs if p.stem not in val], [p for p in pairs if p.stem in val]
