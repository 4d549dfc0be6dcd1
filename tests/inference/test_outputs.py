"""Predictor: batched sampling, several samples (mean, SD), trajectories, written maps."""

import dataclasses

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from ldseg.cli import main
from ldseg.data.writers import PNG_SCALE
from ldseg.inference import Predictor
from ldseg.inference.results import Prediction
from ldseg.inference.writers import write_uncertainty_maps


@pytest.fixture(scope="module")
def predictor(tiny_run):
    return Predictor.from_run(tiny_run)


def image(seed=0, shape=(32, 32)):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def test_batched_seeds_match_single_predictions(predictor):
    pictures = [image(0), image(1)]
    batch, _ = predictor.pipeline(steps=3)(
        torch.cat([predictor.adapter.array_inputs(p).images for p in pictures]), seeds=[5, 6]
    )
    for probs, picture, seed in zip(batch, pictures, [5, 6], strict=True):
        single = predictor.predict_array(picture, steps=3, seed=seed).probabilities
        np.testing.assert_allclose(probs.numpy(), single, atol=1e-5)


def test_samples_give_mean_and_sd_of_predicted_class(predictor):
    picture = image(2)
    singles = np.stack([predictor.predict_array(picture, seed=s).probabilities for s in range(4)])
    out = predictor.predict_array(picture, seed=0, samples=4)
    np.testing.assert_allclose(out.probabilities, singles.mean(0), atol=1e-5)
    np.testing.assert_array_equal(out.mask, singles.mean(0).argmax(0))
    expected = np.take_along_axis(singles.std(0), out.mask[None].astype(int), 0)[0]
    np.testing.assert_allclose(out.std, expected, atol=1e-5)
    assert out.std.max() > 0  # different seeds give different samples
    assert predictor.predict_array(picture).std is None


def test_trajectory_keeps_every_step_and_ends_at_the_prediction(predictor):
    picture = image(3, (48, 40))
    prediction = predictor.predict_array(picture, steps=5, seed=1, max_frames=50)
    trajectory = prediction.trajectory
    assert trajectory.timesteps == [1000, 750, 500, 251, 1, 0]
    # The 8 x 8 latent (factor 4) on the 32 x 32 grid the network sees, each cell 4 x 4 pixels.
    assert [z.shape for z in trajectory.latents] == [(32, 32)] * 6
    assert all(np.array_equal(z, np.kron(z[::4, ::4], np.ones((4, 4)))) for z in trajectory.latents)
    assert all(m.shape == (48, 40) for m in trajectory.masks)
    np.testing.assert_array_equal(trajectory.masks[-1], prediction.mask)
    np.testing.assert_array_equal(prediction.mask, predictor.predict_array(picture, 5, seed=1).mask)
    assert not np.allclose(trajectory.latents[0], trajectory.latents[-1])
    short = predictor.predict_array(picture, steps=5, seed=1, max_frames=3).trajectory
    assert short.timesteps == [1000, 500, 0]


def test_uncertainty_maps_png_and_nifti(tmp_path):
    probs = np.stack([np.full((3, 4, 2), 0.25), np.full((3, 4, 2), 0.75)]).astype(np.float32)
    prediction = Prediction(probs.argmax(0), probs, np.full((3, 4, 2), 0.1, np.float32))
    reference = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 4, 2), np.float32), np.diag([2.0, 1, 3, 1])), reference)
    mean, std = write_uncertainty_maps(prediction, reference, tmp_path / "out")
    assert mean.name == "v_mean.nii.gz" and std.name == "v_std.nii.gz"
    np.testing.assert_allclose(nib.load(mean).get_fdata(), 0.75)
    np.testing.assert_allclose(nib.load(std).affine, np.diag([2.0, 1, 3, 1]))
    flat = Prediction(probs[:, :, :, 0].argmax(0), probs[:, :, :, 0], np.full((3, 4), 0.1))
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(tmp_path / "c.png")
    mean, std = write_uncertainty_maps(flat, tmp_path / "c.png", tmp_path / "png")
    assert np.asarray(Image.open(mean)).max() == round(0.75 * PNG_SCALE)
    assert np.asarray(Image.open(std)).dtype == np.uint16


def test_cli_predict_writes_uncertainty_and_trajectory(tiny_run, test_data, tmp_path, capsys):
    out = tmp_path / "pred"
    args = ["predict", "--run", str(tiny_run), "--input", str(test_data / "images")]
    args += ["--out", str(out), "--samples", "3", "--steps", "4"]
    assert main([*args, "--save-uncertainty", "--save-trajectory"]) == 0
    stems = sorted(p.stem for p in out.glob("*.png"))
    assert len(stems) == 4
    for stem in stems:
        assert (out / "uncertainty" / f"{stem}_mean.png").is_file()
        std = np.asarray(Image.open(out / "uncertainty" / f"{stem}_std.png"))
        assert std.shape == (40, 36) and std.max() > 0
        gif = Image.open(out / "trajectory" / f"{stem}.gif")
        assert gif.n_frames == 5  # the noise and the latent after each of the 4 steps
        assert Image.open(out / "trajectory" / f"{stem}.png").size[0] > 500
    assert main([*args[:-2], "--samples", "1", "--save-uncertainty"]) == 1
    assert "at least 2" in capsys.readouterr().err


def test_trajectory_is_recorded_in_the_predicting_pass(predictor, test_data, tmp_path):
    """--save-trajectory samples each image once (it used to sample every image again)."""
    calls = []
    hook = predictor.model.denoiser.register_forward_hook(lambda *_: calls.append(1))
    paths = sorted((test_data / "images").iterdir())
    try:
        predictor.predict_files(paths, tmp_path / "plain", steps=4)
        plain = len(calls)
        predictor.predict_files(paths, tmp_path / "traj", steps=4, save_trajectory=True)
    finally:
        hook.remove()
    assert plain == 4  # the 4 images in one batch, 4 steps
    assert len(calls) == 2 * plain
    assert len(list((tmp_path / "traj" / "trajectory").glob("*.gif"))) == 4
    for path in paths:
        assert (tmp_path / "plain" / path.name).read_bytes() == (
            tmp_path / "traj" / path.name
        ).read_bytes()


def test_trajectory_follows_the_sliding_windows(tiny_run, monkeypatch):
    """A run without resizing records its trajectory through the same windows as the
    prediction (it used to run the whole image through the network at once)."""
    loaded = Predictor.from_run(tiny_run)
    data = dataclasses.replace(loaded.config.data, resize=False)
    windows = Predictor(loaded.model, dataclasses.replace(loaded.config, data=data))
    seen = []
    sample = windows.model.sample
    monkeypatch.setattr(
        windows.model,
        "sample",
        lambda x, *a, **k: seen.append(tuple(x.shape)) or sample(x, *a, **k),
    )
    picture = image(4, (48, 40))
    prediction = windows.predict_array(picture, steps=3, max_frames=10)
    assert seen == [(1, 1, 32, 32)] * 4  # 2 x 2 windows of the training size, each once
    trajectory = prediction.trajectory
    assert trajectory.timesteps == [1000, 500, 1, 0]
    assert [m.shape for m in trajectory.masks] == [(48, 40)] * 4
    assert [z.shape for z in trajectory.latents] == [(48, 40)] * 4  # windows blended
    np.testing.assert_array_equal(trajectory.masks[-1], prediction.mask)
    np.testing.assert_array_equal(prediction.mask, windows.predict_array(picture, steps=3).mask)


def test_uncertainty_maps_of_an_mha_keep_its_format_and_geometry(tmp_path):
    """An MHA input's maps are float32 MHA on its grid (they used to fail with a TypeError)."""
    import SimpleITK as sitk

    from ldseg.inference.writers import planned_outputs

    reference = tmp_path / "v.mha"
    volume = sitk.GetImageFromArray(np.zeros((2, 4, 3), np.float32))
    volume.SetSpacing((0.5, 0.7, 3.0))
    volume.SetOrigin((1.0, 2.0, 3.0))
    sitk.WriteImage(volume, str(reference))
    probs = np.stack([np.full((3, 4, 2), 0.4), np.full((3, 4, 2), 0.6)]).astype(np.float32)
    prediction = Prediction(probs.argmax(0), probs, np.full((3, 4, 2), 0.2, np.float32))
    mean, std = write_uncertainty_maps(prediction, reference, tmp_path / "out")
    assert (mean.name, std.name) == ("v_mean.mha", "v_std.mha")
    written = sitk.ReadImage(str(std))
    assert written.GetSpacing() == (0.5, 0.7, 3.0) and written.GetOrigin() == (1.0, 2.0, 3.0)
    np.testing.assert_allclose(sitk.GetArrayFromImage(written).transpose(), 0.2)
    np.testing.assert_allclose(sitk.GetArrayFromImage(sitk.ReadImage(str(mean))), 0.6)
    item = type("Item", (), {"stem": "v", "path": reference})()
    planned = {path.name for path, _ in planned_outputs([item], tmp_path / "out", True, False)}
    assert {"v_mean.mha", "v_std.mha"} <= planned
