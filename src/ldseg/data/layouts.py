"""Dataset layouts on disk, detected automatically or chosen: image/mask folders (optionally with
train/val/test subfolders), nnU-Net v2 raw, a CSV/JSON list of pairs, and the GlaS challenge."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ldseg.config import Config
from ldseg.data.formats import IMAGE_DIRS, MASK_DIRS, file_stem, unsupported_error
from ldseg.data.inputs import CHANNEL_STEM
from ldseg.data.pair_lists import list_entry, list_rows
from ldseg.data.pairing import (
    Pair,
    folder_files,
    match_files,
    other_files,
    subfolder,
    unmatched_error,
)
from ldseg.errors import DataError

SPLITS = ("train", "val", "test")
LIST_SUFFIXES = (".csv", ".json")
GLAS_NAME = re.compile(r"^(train|testA|testB)_\d+(_anno)?\.bmp$", re.IGNORECASE)


@dataclass
class DatasetSpec:
    """A dataset found on disk.

    ``splits`` maps a split name (``all`` when the set has none) to its image/mask pairs;
    ``unlabelled`` to images without masks (nnU-Net ``imagesTs``, a test folder without masks);
    ``problems`` lists what is wrong (unpaired files, counts that disagree with dataset.json);
    ``class_names``/``channel_names`` come from dataset.json, ``binarize`` is the layout's
    default (GlaS: instance ids > 0).
    """

    root: Path
    layout: str
    splits: dict[str, list[Pair]] = field(default_factory=dict)
    unlabelled: dict[str, list[Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    class_names: list[str] | None = None
    channel_names: list[str] | None = None
    binarize: float | None = None

    def pairs(self, split: str = "train") -> list[Pair]:
        """The pairs of ``split``, or of the whole set when it has no splits."""
        for name in (split, "all"):
            if self.splits.get(name):
                return self.splits[name]
        found = ", ".join(f"{k} ({len(v)})" for k, v in self.splits.items()) or "none"
        raise DataError(f"{self.root}: no image/mask pairs in split {split!r} (found: {found})")


def detect_layout(path: Path) -> str:
    """The layout of a dataset folder or list file; raises when none fits."""
    if path.is_file():
        if path.name == "dataset.json":
            return "nnunet"
        if path.suffix.lower() in LIST_SUFFIXES:
            return "list"
    elif path.is_dir():
        if (path / "dataset.json").is_file() or (path / "imagesTr").is_dir():
            return "nnunet"
        if subfolder(path, IMAGE_DIRS) or any(
            subfolder(path / s, IMAGE_DIRS) for s in SPLITS if (path / s).is_dir()
        ):
            return "folders"
        if any(GLAS_NAME.match(p.name) for p in path.iterdir()):
            return "glas"
    raise DataError(
        f"{path}: no dataset layout recognised (expected images/ and masks/ folders, "
        "train/ val/ test/ subfolders holding them, nnU-Net imagesTr/ labelsTr/ dataset.json, "
        "a CSV or JSON list of image,label pairs, or GlaS train_N.bmp with train_N_anno.bmp)"
    )


def discover(path: str | Path, layout: str = "auto", strict: bool = True) -> DatasetSpec:
    """Find the pairs of a dataset; ``strict`` raises on any problem (unpaired files, ...),
    otherwise problems are listed in the result for ``ldseg check-data``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    layout = detect_layout(path) if layout == "auto" else layout
    readers = {"folders": _folders, "nnunet": _nnunet, "list": _list, "glas": _glas}
    if layout not in readers:
        raise DataError(f"{path}: unknown layout {layout!r} (choose from {', '.join(readers)})")
    spec = readers[layout](path)
    if strict and spec.problems:
        raise DataError("; ".join(spec.problems))
    return spec


def find_pairs(folder: str | Path) -> list[Pair]:
    """The image/mask pairs of one folder holding ``images``/``Image`` and ``masks``/``labels``/
    ``Label`` subfolders, matched by stem (mask suffixes ``_label``, ``_mask``, ... allowed);
    any unpaired or unsupported file raises."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    spec = DatasetSpec(folder, "folders")
    _pair_folder(spec, folder, "all")
    if spec.problems:
        raise DataError("; ".join(spec.problems))
    return spec.splits["all"]


def configure(config: Config, spec: DatasetSpec) -> None:
    """Fill what the config leaves open from the dataset: binarize, class names and count."""
    data = config.data
    if data.binarize is None:
        data.binarize = spec.binarize
    if data.class_names is None and spec.class_names and data.class_mapping is None:
        data.class_names = list(spec.class_names)
    if not config.model.num_classes and data.class_names:
        config.model.num_classes = len(data.class_names)


def _image_files(spec: DatasetSpec, folder: Path) -> list[Path]:
    """The image files of a folder; every other file is listed among the dataset's problems."""
    spec.problems += [str(unsupported_error(p)) for p in other_files(folder)]
    return folder_files(folder, False)


def _pair_folder(spec: DatasetSpec, folder: Path, split: str) -> None:
    images, masks = subfolder(folder, IMAGE_DIRS), subfolder(folder, MASK_DIRS)
    if images is None:
        raise DataError(f"{folder}: no image folder (expected one of {', '.join(IMAGE_DIRS)})")
    if masks is None:
        if split == "test":
            spec.unlabelled[split] = _image_files(spec, images)
            return
        raise DataError(f"{folder}: no mask folder (expected one of {', '.join(MASK_DIRS)})")
    pairs, lonely_images, lonely_masks = match_files(
        _image_files(spec, images), _image_files(spec, masks), folder
    )
    spec.splits[split] = pairs
    if lonely_images or lonely_masks:
        spec.problems.append(str(unmatched_error(folder, lonely_images, lonely_masks)))


def _folders(root: Path) -> DatasetSpec:
    spec = DatasetSpec(root, "folders")
    if subfolder(root, IMAGE_DIRS):
        _pair_folder(spec, root, "all")
    else:
        for split in SPLITS:
            if (root / split).is_dir():
                _pair_folder(spec, root / split, split)
    if not spec.splits and not spec.unlabelled:
        raise DataError(
            f"{root}: no images/ and masks/ folders, nor train/ val/ test/ holding them"
        )
    return spec


def _nnunet_fields(meta: Any, where: Path) -> tuple[list[str], str, list[str]]:
    """Channel names (keys 0..n-1), file ending and class names of a dataset.json, each field
    checked for its type."""
    if not isinstance(meta, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    channels = meta.get("channel_names", meta.get("modality"))
    if not isinstance(channels, dict) or not channels:
        raise DataError(f"{where}: channel_names must map channel numbers to names")
    bad = [k for k in channels if not (isinstance(k, str) and k.isdigit())]
    if bad or sorted(map(int, channels)) != list(range(len(channels))):
        raise DataError(
            f"{where}: channel_names keys must be the channel numbers 0..{len(channels) - 1}, "
            f"got {list(channels)}"
        )
    ending = meta.get("file_ending", ".nii.gz")
    if not isinstance(ending, str) or not ending.startswith("."):
        raise DataError(
            f"{where}: file_ending must be a file ending such as .nii.gz, got {ending!r}"
        )
    declared = meta.get("numTraining")
    if declared is not None and (not isinstance(declared, int) or isinstance(declared, bool)):
        raise DataError(f"{where}: numTraining must be a number of cases, got {declared!r}")
    if not isinstance(meta.get("labels"), dict) or not meta["labels"]:
        raise DataError(f"{where}: labels must map class names to label values")
    names = [str(channels[k]) for k in sorted(channels, key=int)]
    return names, ending, _labels(meta["labels"], where)


def _labels(raw: dict, where: Path) -> list[str]:
    """Class names from dataset.json ``labels``: v2 ``{name: value}`` or v1 ``{"value": name}``."""
    if all(isinstance(k, str) and k.isdigit() for k in raw):
        if any(not isinstance(name, str) for name in raw.values()):
            raise DataError(f"{where}: labels {{value: name}} need class names, got {raw}")
        raw = {name: int(value) for value, name in raw.items()}
    if any(not isinstance(v, int) or isinstance(v, bool) for v in raw.values()):
        raise DataError(f"{where}: labels must map names to integer values (regions unsupported)")
    by_value = {v: k for k, v in raw.items()}
    if sorted(by_value) != list(range(len(raw))):
        raise DataError(f"{where}: label values {sorted(by_value)} must be 0..{len(raw) - 1}")
    return [by_value[v] for v in range(len(raw))]


def _group_channels(files: list[Path], ending: str, n: int, where: Path) -> dict[str, list[Path]]:
    """nnU-Net image files ``<case>_<XXXX><ending>`` grouped by case, channels in order."""
    cases: dict[str, dict[int, Path]] = defaultdict(dict)
    for path in files:
        match = CHANNEL_STEM.match(path.name[: -len(ending)] if path.name.endswith(ending) else "")
        if match is None:
            raise DataError(f"{path}: not an nnU-Net image name <case>_<XXXX>{ending}")
        cases[match[1]][int(match[2])] = path
    for case, channels in cases.items():
        if sorted(channels) != list(range(n)):
            raise DataError(
                f"{where}: case {case} has channel files {sorted(channels)}, "
                f"dataset.json declares {n} channel(s)"
            )
    return {case: [channels[c] for c in range(n)] for case, channels in sorted(cases.items())}


def _nnunet(root: Path) -> DatasetSpec:
    root = root.parent if root.is_file() else root
    meta_path = root / "dataset.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{meta_path}: cannot read nnU-Net dataset.json ({err})") from None
    channel_names, ending, names = _nnunet_fields(meta, meta_path)
    spec = DatasetSpec(root, "nnunet", class_names=names)
    spec.channel_names = channel_names
    n = len(spec.channel_names)
    cases = _group_channels(_image_files(spec, root / "imagesTr"), ending, n, root / "imagesTr")
    labels = {file_stem(p): p for p in _image_files(spec, root / "labelsTr")}
    spec.splits["train"] = [
        Pair(files[0], labels[case], case, tuple(files[1:]))
        for case, files in cases.items()
        if case in labels
    ]
    lonely_images = [files[0] for case, files in cases.items() if case not in labels]
    lonely_labels = [p for case, p in labels.items() if case not in cases]
    if lonely_images or lonely_labels:
        where = f"{root} (imagesTr vs labelsTr)"
        spec.problems.append(str(unmatched_error(where, lonely_images, lonely_labels)))
    declared = meta.get("numTraining")
    if declared is not None and declared != len(spec.splits["train"]):
        spec.problems.append(
            f"{meta_path}: numTraining is {declared}, found {len(spec.splits['train'])} cases"
        )
    if (root / "imagesTs").is_dir():
        test = _group_channels(_image_files(spec, root / "imagesTs"), ending, n, root / "imagesTs")
        spec.unlabelled["test"] = [files[0] for files in test.values()]
    return spec


def _list(path: Path) -> DatasetSpec:
    spec = DatasetSpec(path, "list")
    for where, entry in list_rows(path):
        images, label, split = list_entry(path, where, entry)
        missing = [p for p in (*images, label) if not p.is_file()]
        if missing:
            spec.problems.append(f"{path}: entry {where}: no such file {missing[0]}")
            continue
        pair = Pair(images[0], label, file_stem(images[0]), tuple(images[1:]))
        spec.splits.setdefault(split, []).append(pair)
    if not spec.splits and not spec.problems:
        raise DataError(f"{path}: the pair list is empty")
    return spec


def _glas(root: Path) -> DatasetSpec:
    spec = DatasetSpec(root, "glas", binarize=0.0)
    files = [p for p in folder_files(root, False) if GLAS_NAME.match(p.name)]
    for split in ("train", "testA", "testB"):
        group = [p for p in files if p.name.lower().startswith(f"{split.lower()}_")]
        images = [p for p in group if not file_stem(p).lower().endswith("_anno")]
        masks = [p for p in group if file_stem(p).lower().endswith("_anno")]
        pairs, lonely_images, lonely_masks = match_files(images, masks, root)
        if pairs:
            spec.splits[split] = pairs
        if lonely_images or lonely_masks:
            spec.problems.append(str(unmatched_error(root, lonely_images, lonely_masks)))
    if not spec.splits and not spec.problems:
        raise DataError(f"{root}: no GlaS files (train_N.bmp with train_N_anno.bmp)")
    return spec
