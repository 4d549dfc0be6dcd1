"""``segment_and_score`` gives each caller the numbers of the path it replaced, to the bit:
validation's and the post-processing decision's consecutive batches, the experiments' batches
of one size, and ``compare``'s one image at a time."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ldseg.data.cases import Case, load_cases, read_cases
from ldseg.data.layouts import find_pairs
from ldseg.data.slices import volume_stem
from ldseg.data.transforms import prepare_image, resize_probabilities
from ldseg.evaluation.metrics import class_statistics, dice_iou, dice_summary
from ldseg.evaluation.postprocess import decide_postprocessing, keep_largest_component
from ldseg.inference import Predictor, SamplingOptions
from ldseg.inference.scoring import segment_and_score
from ldseg.runs import RunFolder
from ldseg.training.postprocess import record_postprocessing
from ldseg.training.validation import validate

RNG = np.random.default_rng(0)


def native_grid(predictor: Predictor) -> Predictor:
    """The run predicting with sliding windows over each image's own grid."""
    data = dataclasses.replace(predictor.config.data, resize=False)
    return Predictor(predictor.model, dataclasses.replace(predictor.config, data=data))


def cases_of_two_sizes() -> list[Case]:
    cases = []
    for i, shape in enumerate([(40, 36), (32, 48), (40, 36), (40, 36), (32, 48)]):
        image = RNG.random((1, *shape)).astype(np.float32)
        mask = RNG.integers(0, 3, shape)
        cases.append(Case(f"case{i}", image, mask, (1.0, 1.0), Path(f"case{i}.png")))
    return cases


def consecutive(samples, batch_size):
    """Consecutive samples of one shape, at most ``batch_size`` (the batches validation and
    the decision have always used)."""
    batch = []
    for sample in samples:
        shape = sample["image"].shape
        if batch and (len(batch) == batch_size or shape != batch[0]["image"].shape):
            yield batch
            batch = []
        batch.append(sample)
    yield batch


def probabilities(predictor, images, seed, batch_size=16):
    return predictor.pipeline()(
        torch.stack(images), seeds=[seed] * len(images), batch_size=batch_size
    )[0]


def test_validation_scores_each_sample_as_consecutive_batches_did(tiny_run):
    predictor = native_grid(Predictor.from_run(tiny_run))
    config = predictor.config
    samples = [
        {"image": prepare_image(c.image, config.data, 1), "mask": torch.as_tensor(c.mask)[None]}
        | {"stem": c.stem}
        for c in cases_of_two_sizes()
    ]
    former = []
    for batch in consecutive(samples, 3):
        probs = probabilities(predictor, [s["image"] for s in batch], config.train.seed, 3)
        for p, sample in zip(probs, batch, strict=True):
            former.append(dice_iou(p.argmax(0).numpy(), sample["mask"][0].numpy(), 3)[0])
    found = validate(predictor.model, samples, config, batch_size=3)
    np.testing.assert_array_equal(found, class_statistics(former)[0])


def test_the_decision_of_a_slice_wise_run_stacks_volumes_as_before(slicing_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(slicing_run, run)
    predictor = Predictor.from_run(run, postprocess=False)
    data = predictor.config.data
    samples = load_cases(find_pairs(slicing_run.parent / "data"), data, 1, 3, progress=False)[0]
    masks = []
    for batch in consecutive(samples, 8):  # across volumes: 18 slices in 8, 8 and 2
        probs = probabilities(predictor, [s["image"] for s in batch], 0, 8)
        masks += [p.argmax(0).numpy().astype(np.uint8) for p in probs]
    volumes: dict[str, list] = {}
    for mask, sample in zip(masks, samples, strict=True):
        volumes.setdefault(volume_stem(sample["stem"]), []).append((mask, sample["mask"][0]))
    stacked = [[np.stack(v, axis=-1) for v in zip(*rows, strict=True)] for rows in volumes.values()]
    expected = decide_postprocessing([m for m, _ in stacked], [t for _, t in stacked], 3)
    assert expected["cases"] == 3
    record_postprocessing(RunFolder(run), samples, torch.device("cpu"))
    recorded = json.loads(RunFolder(run).postprocessing_path.read_text())
    assert recorded == expected | {"weights": "best"}


def test_cases_of_one_size_are_segmented_together_and_scored_in_order(tiny_run):
    predictor = native_grid(Predictor.from_run(tiny_run))
    predictor.keep_largest = [1]
    cases = cases_of_two_sizes()
    images = [prepare_image(c.image, predictor.config.data, 1) for c in cases]
    former = [None] * len(cases)
    for shape in [(40, 36), (32, 48)]:  # each size's images in one batch, as before
        index = [i for i, image in enumerate(images) if image.shape[1:] == shape]
        probs = probabilities(predictor, [images[i] for i in index], 2)
        for i, p in zip(index, probs, strict=True):
            mask = resize_probabilities(p, cases[i].mask.shape).argmax(0).numpy()
            former[i] = keep_largest_component(mask, [1])
    inputs = map(predictor.adapter.case_inputs, cases)
    scored = segment_and_score(predictor, inputs, SamplingOptions(seed=2), keep_masks=True)
    assert scored.stems == [c.stem for c in cases]
    for mask, truth, expected, case in zip(scored.masks, scored.truths, former, cases, strict=True):
        np.testing.assert_array_equal(mask, expected)
        assert truth is case.mask
    rows = [dice_iou(m, c.mask, 3)[0] for m, c in zip(former, cases, strict=True)]
    np.testing.assert_array_equal(scored.scores.dice, np.array(rows))
    assert scored.summary() == dice_summary(rows)


def test_one_case_at_a_time_is_predict_array_and_timed(tiny_run, test_data):
    predictor = Predictor.from_run(tiny_run)
    cases = list(read_cases(find_pairs(test_data), predictor.config.data))
    seen = []
    scored = segment_and_score(
        predictor,
        map(predictor.adapter.case_inputs, cases),
        SamplingOptions(steps=2),
        batching="case",
        iou=True,
        timed=True,
        each=lambda position, prediction: seen.append((position, prediction.mask.shape)),
    )
    assert seen == [(i, (40, 36)) for i in range(4)]
    assert len(scored.seconds) == 4 and min(scored.seconds) > 0 and scored.masks is None
    for dice, iou, case in zip(scored.scores.dice, scored.scores.iou, cases, strict=True):
        mask = predictor.predict_array(case.image, 2, spacing=case.spacing).mask
        expected = dice_iou(mask, case.mask, 3)
        np.testing.assert_array_equal(dice, expected[0])
        np.testing.assert_array_equal(iou, expected[1])
    with pytest.raises(ValueError, match="needs batching 'case'"):
        segment_and_score(predictor, [], timed=True)
