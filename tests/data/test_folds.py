"""Cross-validation folds: grouped by patient, disjoint, covering, seeded; splits.json checked."""

import json
from pathlib import Path

import pytest

from ldseg.data.folds import case_group, fold_pairs, make_folds, read_splits, unique_stems
from ldseg.data.pairing import Pair
from ldseg.errors import DataError

# ACDC-like: 7 patients with 2 frames each, and 3 cases without a patient in their name.
STEMS = [f"patient{p:03d}_frame{f:02d}" for p in range(1, 8) for f in (1, 12)]
STEMS += ["liver_004", "liver_011", "scan-b"]


@pytest.mark.parametrize(
    ("stem", "group"),
    [
        ("patient001_frame01", "patient001"),  # ACDC
        ("patient0001_2CH_ED", "patient0001"),  # CAMUS
        ("Patient12_slice3", "Patient12"),
        ("sub-01_T1w", "sub-01"),
        ("subject7", "subject7"),
        ("case_00012", "case_00012"),  # KiTS (nnU-Net): the case id
        ("liver_004", "liver_004"),  # nnU-Net case id
        ("patients", "patients"),
    ],
)
def test_case_group(stem, group):
    assert case_group(stem) == group


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_folds_are_disjoint_cover_every_case_and_group_by_patient(folds):
    splits = make_folds(STEMS, folds, seed=0)
    assert len(splits) == folds
    vals = [set(fold["val"]) for fold in splits]
    assert sorted(s for v in vals for s in v) == sorted(STEMS)  # every case once
    for fold, val in zip(splits, vals, strict=True):
        assert set(fold["train"]) == set(STEMS) - val
        assert fold["val"] == sorted(fold["val"]) and val
    for group in {case_group(s) for s in STEMS}:
        holding = [k for k, v in enumerate(vals) if any(case_group(s) == group for s in v)]
        assert len(holding) == 1, group  # a patient's frames never span folds
    sizes = [len(v) for v in vals]
    assert max(sizes) - min(sizes) <= 2  # balanced up to one patient


def test_folds_are_deterministic_from_the_sorted_cases_and_the_seed():
    splits = make_folds(STEMS, 3, seed=4)
    assert make_folds(list(reversed(STEMS)), 3, seed=4) == splits
    assert make_folds(STEMS, 3, seed=5) != splits


def test_too_few_patients_for_the_folds():
    with pytest.raises(DataError, match="--folds 3: the training data has only 2 patients"):
        make_folds(["patient1_a", "patient1_b", "patient2_a"], 3, seed=0)


def pairs(stems):
    return [Pair(Path(f"images/{s}.png"), Path(f"masks/{s}.png"), s) for s in stems]


def test_fold_pairs_and_unique_stems():
    splits = make_folds(STEMS, 2, seed=0)
    train, val = fold_pairs(pairs(STEMS), splits, 1)
    assert [p.stem for p in val] == [s for s in STEMS if s in splits[1]["val"]]
    assert {p.stem for p in train} == set(splits[1]["train"])
    with pytest.raises(DataError, match=r"b\.png: a second case with the stem 'a'"):
        unique_stems([*pairs(["a"]), Pair(Path("b.png"), Path("m.png"), "a")])


def test_read_splits_accepts_its_own_file_and_names_what_is_wrong(tmp_path):
    path = tmp_path / "splits.json"
    splits = make_folds(STEMS, 3, seed=0)
    path.write_text(json.dumps(splits))
    assert read_splits(path, STEMS) == splits

    def refused(raw, match, stems=STEMS):
        path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
        with pytest.raises(DataError, match=f"{path}: {match}"):
            read_splits(path, stems)

    refused("[", "cannot read the splits")
    refused(splits[:1], "must be a list of 2 or more")
    refused([{"train": [], "val": [], "test": []}] * 2, "must be a list of 2 or more")
    refused([{"train": [1], "val": []}] * 2, "must be a list of 2 or more")
    refused(splits, "fold 0 names 'liver_004', not a training case", STEMS[:-3])
    overlap = [splits[0], {**splits[1], "val": splits[1]["val"] + splits[0]["val"][:1]}, splits[2]]
    refused(overlap, f"'{splits[0]['val'][0]}' is a validation case of two folds")
    leaky = [{**splits[0], "train": STEMS}, *splits[1:]]
    refused(leaky, "fold 0 must train on every case outside its val")
    refused(splits[:2], f"'{splits[2]['val'][0]}' is in no fold's validation cases")


@pytest.mark.parametrize(("name", "patients", "cases"), [("camus", 400, 1600), ("acdc", 70, 140)])
def test_real_training_sets_fold_by_patient(shared_data, name, patients, cases):
    from ldseg.data.layouts import discover

    stems = unique_stems(discover(shared_data / name).pairs("train"))
    assert len(stems) == cases and len({case_group(s) for s in stems}) == patients
    splits = make_folds(stems, 5, seed=0)
    for fold in splits:
        val_groups = {case_group(s) for s in fold["val"]}
        assert not val_groups & {case_group(s) for s in fold["train"]}  # no patient on both sides
        assert len(fold["val"]) == cases // 5  # 4 views (CAMUS) or 2 frames (ACDC) a patient
