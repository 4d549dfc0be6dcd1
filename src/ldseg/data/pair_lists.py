"""CSV and JSON lists of image/label pairs (a CSV with a header, a JSON list of objects, or a
MONAI/Decathlon datalist ``{"training": [...], "validation": [...]}``), read with typed checks:
every malformed entry is one line naming the file, the entry and the field."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ldseg.errors import DataError

DECATHLON_SPLITS = {"training": "train", "validation": "val", "test": "test"}
IMAGE_KEYS, LABEL_KEYS = ("image",), ("label", "mask")


def list_rows(path: Path) -> list[tuple[int, dict]]:
    """(line or index, entry) of a CSV with a header or a JSON list / decathlon datalist."""
    try:
        text = path.read_text()
        if path.suffix.lower() == ".csv":
            return _csv_rows(path, text)
        raw = json.loads(text)
    except (OSError, ValueError, csv.Error) as err:
        raise DataError(f"{path}: cannot read pair list ({err})") from None
    if isinstance(raw, dict) and not any(isinstance(v, list) for v in raw.values()):
        raise DataError(
            f'{path}: expected a list of {{image, label}} objects or a datalist {{"training": '
            "[...], ...}"
        )
    if isinstance(raw, dict):  # {"training": [...], "validation": [...]} as MONAI datalists
        entries = []
        for key, value in raw.items():
            if not isinstance(value, list):
                continue  # other datalist fields (name, description, ...)
            for index, entry in enumerate(value):
                if not isinstance(entry, dict):
                    raise DataError(
                        f"{path}: {key} entry {index}: expected an object with image and label, "
                        f"got {entry!r}"
                    )
                entries.append((index, {"split": DECATHLON_SPLITS.get(key, key), **entry}))
        return entries
    if not isinstance(raw, list):
        raise DataError(f"{path}: expected a list of {{image, label}} objects")
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise DataError(
                f"{path}: entry {index}: expected an object with image and label, got {entry!r}"
            )
    return list(enumerate(raw))


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        raise DataError(f"{path}: the pair list is empty")
    header = [(name or "").strip().lower() for name in reader.fieldnames]
    if not set(header) & set(IMAGE_KEYS) or not set(header) & set(LABEL_KEYS):
        raise DataError(
            f"{path}: line 1: the header {','.join(reader.fieldnames)} needs an image column "
            "and a label (or mask) column"
        )
    rows = []
    for line, row in enumerate(reader, start=2):
        if None in row:  # more cells than header columns
            raise DataError(f"{path}: entry {line}: more cells than the header has columns")
        cells = {
            k.strip().lower(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()
        }
        rows.append((line, cells))
    return rows


def _path(path: Path, where: Any, field: str, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise DataError(f"{path}: entry {where}: {field} must be a file path, got {value!r}")
    return path.parent / value


def list_entry(path: Path, where: Any, entry: dict) -> tuple[list[Path], Path, str]:
    """The image file(s), label file and split of one entry, checked field by field."""
    image = entry.get("image")
    label = next((entry[k] for k in LABEL_KEYS if entry.get(k) not in (None, "")), None)
    if image in (None, "", []) or label is None:
        raise DataError(f"{path}: entry {where} needs image and label")
    images = image if isinstance(image, list) else [image]
    images = [_path(path, where, "image", value) for value in images]
    label_path = _path(path, where, "label", label)
    split = entry.get("split") or "all"
    if not isinstance(split, str):
        raise DataError(f"{path}: entry {where}: split must be a name, got {split!r}")
    return images, label_path, split
