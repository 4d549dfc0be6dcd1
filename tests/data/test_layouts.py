"""Dataset layouts (folders with splits, nnU-Net v2, CSV/JSON lists, GlaS) and label handling."""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ldseg.config import Config, DataConfig
from ldseg.data.cases import load_cases
from ldseg.data.check import check_dataset, format_check
from ldseg.data.layouts import configure, detect_layout, discover
from ldseg.errors import DataError
from tests.helpers import write_nifti, write_png

RNG = np.random.default_rng(0)


nifti = partial(write_nifti, affine=np.diag([0.8, 0.8, 3.0, 1.0]))


def grey(shape=(8, 8)) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def labels(shape=(8, 8), high=3) -> np.ndarray:
    return RNG.integers(0, high, shape, dtype=np.uint8)


def test_folders_with_splits(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            write_png(tmp_path / split / "images" / f"{split}{i}.png", grey())
            write_png(tmp_path / split / "masks" / f"{split}{i}_mask.png", labels())
    write_png(tmp_path / "test" / "images" / "t0.png", grey())
    assert detect_layout(tmp_path) == "folders"
    spec = discover(tmp_path)
    assert {k: len(v) for k, v in spec.splits.items()} == {"train": 3, "val": 2}
    assert [p.name for p in spec.unlabelled["test"]] == ["t0.png"]
    assert spec.pairs("train")[0].mask.name == "train0_mask.png"
    single = discover(tmp_path / "train")  # a plain images/ masks/ folder is split "all"
    assert list(single.splits) == ["all"] and len(single.pairs("val")) == 3


def write_nnunet(root: Path, cases=("a", "b"), channels=2, labels_json=None, num_training=None):
    meta = {
        "channel_names": {str(c): f"seq{c}" for c in range(channels)},
        "labels": labels_json or {"background": 0, "LV": 1, "LA": 2},
        "numTraining": len(cases) if num_training is None else num_training,
        "file_ending": ".nii.gz",
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for case in cases:
        for c in range(channels):
            nifti(root / "imagesTr" / f"{case}_{c:04d}.nii.gz", RNG.random((8, 8, 4), np.float32))
        nifti(root / "labelsTr" / f"{case}.nii.gz", labels((8, 8, 4)))
    for c in range(channels):
        nifti(root / "imagesTs" / f"t_{c:04d}.nii.gz", RNG.random((8, 8, 4), np.float32))
    return root


def test_nnunet_multichannel(tmp_path):
    root = write_nnunet(tmp_path / "Dataset001_Heart")
    assert detect_layout(root) == "nnunet" and detect_layout(root / "dataset.json") == "nnunet"
    spec = discover(root)
    pairs = spec.pairs()
    assert [p.stem for p in pairs] == ["a", "b"]
    assert [p.name for p in pairs[0].images] == ["a_0000.nii.gz", "a_0001.nii.gz"]
    assert pairs[0].mask.name == "a.nii.gz"
    assert spec.class_names == ["background", "LV", "LA"]
    assert spec.channel_names == ["seq0", "seq1"]
    assert [p.name for p in spec.unlabelled["test"]] == ["t_0000.nii.gz"]
    config = Config(data=DataConfig(size=[8, 8, 4]))
    configure(config, spec)
    assert config.model.num_classes == 3 and config.data.class_names[2] == "LA"
    data = DataConfig(size=[8, 8, 4], intensity="zscore")
    cases, channels, classes = load_cases(pairs, data, 0, 3, progress=False)
    assert channels == 2 and classes == 3 and cases[0]["image"].shape == (2, 8, 8, 4)


def test_nnunet_problems(tmp_path):
    root = write_nnunet(tmp_path / "d1", num_training=5)
    (root / "imagesTr" / "b_0001.nii.gz").unlink()
    with pytest.raises(DataError, match=r"case b has channel files \[0\], dataset.json declares 2"):
        discover(root)
    root = write_nnunet(tmp_path / "d2", num_training=5)
    with pytest.raises(DataError, match="numTraining is 5, found 2"):
        discover(root)
    assert discover(root, strict=False).problems  # check-data lists instead of raising
    root = write_nnunet(tmp_path / "d3", labels_json={"background": 0, "x": 2})
    with pytest.raises(DataError, match=r"label values \[0, 2\] must be 0..1"):
        discover(root)


def test_csv_and_json_lists(tmp_path):
    for i in range(4):
        write_png(tmp_path / "img" / f"c{i}.png", grey())
        write_png(tmp_path / "lab" / f"c{i}.png", labels())
    rows = ["image,label,split"] + [
        f"img/c{i}.png,lab/c{i}.png,{'train' if i < 3 else 'val'}" for i in range(4)
    ]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    spec = discover(tmp_path / "pairs.csv")
    assert spec.layout == "list"
    assert [p.stem for p in spec.pairs("train")] == ["c0", "c1", "c2"]
    assert [p.stem for p in spec.pairs("val")] == ["c3"]

    entries = [{"image": f"img/c{i}.png", "mask": f"lab/c{i}.png"} for i in range(2)]
    (tmp_path / "pairs.json").write_text(json.dumps(entries))
    assert list(discover(tmp_path / "pairs.json").splits) == ["all"]
    datalist = {"training": entries, "validation": entries[:1]}  # MONAI decathlon datalist
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    spec = discover(tmp_path / "datalist.json")
    assert {k: len(v) for k, v in spec.splits.items()} == {"train": 2, "val": 1}

    (tmp_path / "bad.csv").write_text("image,label\nimg/c0.png,lab/missing.png\n")
    with pytest.raises(DataError, match=r"bad\.csv: entry 2: no such file .*missing\.png"):
        discover(tmp_path / "bad.csv")


def test_glas_layout_binarises_instances(tmp_path):
    instances = np.zeros((8, 8), np.uint8)
    instances[1:3, 1:3], instances[5:7, 4:7] = 1, 7
    for name in ("train_1", "train_2", "testA_1", "testB_1"):
        write_png(tmp_path / f"{name}.bmp", RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        write_png(tmp_path / f"{name}_anno.bmp", instances)
    (tmp_path / "Grade.csv").write_text("name,grade\n")
    assert detect_layout(tmp_path) == "glas"
    spec = discover(tmp_path)
    assert {k: len(v) for k, v in spec.splits.items()} == {"train": 2, "testA": 1, "testB": 1}
    config = Config(data=DataConfig(size=[8, 8]))
    configure(config, spec)
    assert config.data.binarize == 0
    cases, channels, classes = load_cases(spec.pairs(), config.data, progress=False)
    assert channels == 3 and classes == 2
    assert set(cases[0]["mask"].unique().tolist()) == {0, 1}


def test_unrecognised_layout_and_explicit_layout(tmp_path):
    write_png(tmp_path / "x" / "photo.png", grey())
    with pytest.raises(DataError, match="no dataset layout recognised"):
        discover(tmp_path / "x")
    with pytest.raises(DataError, match="no images/ and masks/ folders"):
        discover(tmp_path / "x", layout="folders")
    with pytest.raises(DataError, match="no such file or folder"):
        discover(tmp_path / "missing")


def test_class_mapping_and_binarize(tmp_path):
    write_png(tmp_path / "images" / "a.png", grey((4, 4)))
    camus_like = np.array([[0, 1, 2, 3]] * 4, np.uint8)  # background, LV, myocardium, LA
    write_png(tmp_path / "masks" / "a.png", camus_like)
    pairs = discover(tmp_path).pairs()
    options = DataConfig(size=[4, 4], class_mapping=[0, 1, 0, 2])  # myocardium -> background
    cases, _, classes = load_cases(pairs, options, progress=False)
    assert classes == 3 and cases[0]["mask"][0, 0].tolist() == [0, 1, 0, 2]
    short = DataConfig(size=[4, 4], class_mapping=[0, 1])
    with pytest.raises(DataError, match=r"a\.png: label value\(s\) \[2, 3\] have no entry"):
        load_cases(pairs, short, progress=False)

    jpeg_mask = np.where(camus_like > 1, 250, 3).astype(np.uint8)
    Image.fromarray(np.dstack([jpeg_mask] * 3)).save(tmp_path / "masks" / "a.png")
    binary = DataConfig(size=[4, 4], binarize=127)
    cases, _, classes = load_cases(pairs, binary, progress=False)
    assert classes == 2 and cases[0]["mask"][0, 0].tolist() == [0, 0, 1, 1]


def folders_with_splits(root: Path) -> Path:
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            write_png(root / split / "images" / f"{split}{i}.png", grey())
            write_png(root / split / "masks" / f"{split}{i}_mask.png", labels())
    write_png(root / "test" / "images" / "t0.png", grey())
    return root


def pair_list(root: Path) -> Path:
    for i in range(4):
        write_png(root / "img" / f"c{i}.png", RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        write_png(root / "lab" / f"c{i}.png", labels())
    rows = [f"img/c{i}.png,lab/c{i}.png,{'train' if i < 3 else 'val'}" for i in range(4)]
    (root / "pairs.csv").write_text("\n".join(["image,label,split", *rows]) + "\n")
    return root / "pairs.csv"


def glas(root: Path) -> Path:
    for name in ("train_1", "train_2", "testA_1"):
        write_png(root / f"{name}.bmp", RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        write_png(root / f"{name}_anno.bmp", labels(high=9))  # instance ids
    return root


@pytest.mark.parametrize(
    ("make", "splits", "channels", "classes"),
    [
        (folders_with_splits, {"train": (3, 0), "val": (2, 0), "test": (0, 1)}, 1, 3),
        (lambda root: write_nnunet(root / "Dataset001"), {"train": (2, 0), "test": (0, 1)}, 2, 3),
        (pair_list, {"train": (3, 0), "val": (1, 0)}, 3, 3),
        (glas, {"train": (2, 0), "testA": (1, 0)}, 3, 2),
    ],
    ids=["folders", "nnunet", "list", "glas"],
)
def test_check_data_on_each_layout(tmp_path, make, splits, channels, classes):
    result = check_dataset(make(tmp_path), progress=False)
    assert result.ok, result.problems
    assert {s.name: (s.pairs, s.unlabelled) for s in result.splits} == splits
    assert {c for s in result.splits for c in s.channels} == {channels}
    assert result.num_classes == classes
    pairs = sum(n for n, _ in splits.values())
    assert format_check(result).endswith(f"usable: {pairs} pairs, {classes} classes")
