"""The run configuration: defaults, presets on defaults, validation of keys, types and ranges,
and the round trip through config.json."""

import json
from pathlib import Path

import pytest

from ldseg.config import Config, DataConfig, ModelConfig
from ldseg.errors import LDSegError
from ldseg.models import MODEL_NAMES
from tests.helpers import tiny_config


def test_defaults_are_valid_and_round_trip_through_json(tmp_path):
    config = tiny_config(size=(32, 32, 8))
    config.model.latent_factor = [16, 16, 4]
    config.validate()
    assert config.spatial_dims == 3
    config.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == config
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model"]["latent_factor"] == [16, 16, 4]
    assert Config().to_dict()["sampling"] == {"sampler": "ddim", "steps": 2, "restandardize": True}


def test_a_preset_overrides_only_its_keys(tmp_path):
    preset = tmp_path / "preset.yaml"
    preset.write_text("model: {num_classes: 4}\ntrain: {epochs: 7}\n")
    config = Config.load(preset, preset=True)
    assert config.model.num_classes == 4 and config.train.epochs == 7
    assert config.model.channels == ModelConfig().channels and config.data == DataConfig()
    with pytest.raises(LDSegError, match="missing key"):
        Config.load(preset)  # a run's config.json must be complete


def test_an_exponent_without_a_dot_is_a_float_in_a_preset(tmp_path):
    preset = tmp_path / "preset.yaml"  # YAML 1.1 (PyYAML's safe loader) reads 2e-3 as a string
    preset.write_text("train: {lr: 2e-3, ema_decay: 9.9E-1}\n")
    config = Config.load(preset, preset=True)
    assert config.train.lr == 0.002 and config.train.ema_decay == 0.99
    preset.write_text("data: {class_names: [background, 1e5]}\n")
    with pytest.raises(LDSegError, match=r"expected str, got 100000\.0"):
        Config.load(preset, preset=True)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"model": {"exec": "import os"}}, r"model: unknown key\(s\) exec"),
        ({"model": {"num_classes": "3"}}, "num_classes: expected int"),
        ({"train": {"lr": True}}, "lr: expected float"),
        ({"data": {"size": 64}}, "size: expected a list"),
        ({"model": {"name": "mystery"}}, "model.name must be one of " + ", ".join(MODEL_NAMES)),
        ({"model": {"num_classes": 1}}, "num_classes must be at least 2"),
        ({"model": {"latent_factor": [16]}}, "latent_factor .* must match data.size"),
        ({"model": {"prediction": "noise"}}, "model.prediction must be one of"),
        ({"sampling": {"sampler": "euler"}}, "sampling.sampler must be one of"),
        (
            {"model": {"decoder_image_head": True, "stem_stride": 1}},
            "decoder_image_head needs decoder_image_skips and stem_stride 2",
        ),
        ({"sampling": {"steps": 0}}, "sampling.steps must be between 1 and 1000"),
        ({"train": {"lr_schedule": "step"}}, "train.lr_schedule must be one of"),
        ({"data": {"class_names": ["a", "b"]}, "model": {"num_classes": 3}}, "2 names for 3"),
    ],
)
def test_keys_types_and_ranges_are_refused_with_the_source(raw, match):
    with pytest.raises(LDSegError, match=match) as error:
        Config.from_dict(raw, "preset.yaml", partial=True)
    assert str(error.value).startswith("preset.yaml: ")


def test_unreadable_files_are_one_error_naming_the_file(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(LDSegError, match=r"broken\.json: cannot read config"):
        Config.load(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(LDSegError, match=r"list\.yaml: config must be a mapping"):
        Config.load(listed, preset=True)


def test_data_config_validation():
    Config.from_dict({"data": {"binarize": 127, "augment": ["flip", "affine"]}}, partial=True)
    bad = [
        ({"layout": "zip"}, "data.layout"),
        ({"augment": ["mixup"]}, "data.augment"),
        ({"spacing": [1.0, 1.0]}, "data.spacing needs data.resize false"),
        ({"resize": False, "window_overlap": 1.0}, "window_overlap"),
        ({"size": [64, 32], "augment": ["rot90"]}, "rot90 needs a square size"),
        ({"class_mapping": []}, "class_mapping"),
    ]
    for data, match in bad:
        with pytest.raises(LDSegError, match=match):
            Config.from_dict({"data": data}, partial=True)
    with pytest.raises(LDSegError, match="class_mapping reaches class 2 of 2"):
        Config.from_dict(
            {"model": {"num_classes": 2}, "data": {"class_mapping": [0, 2]}}, partial=True
        )


def test_config_ranges_are_checked():
    with pytest.raises(LDSegError, match="max_minutes"):
        tiny_config(max_minutes=-1).validate()
    with pytest.raises(LDSegError, match=r"train\.epochs"):
        tiny_config(epochs=0).validate()


def test_presets_layer_in_order(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("model: {dropout: 0.3, gamma: 3.0}\ndata: {size: [64, 64]}\n")
    second.write_text("model: {dropout: 0.1}\n")
    config = Config.load_presets([first, second])
    assert (config.model.dropout, config.model.gamma, config.data.size) == (0.1, 3.0, [64, 64])
    assert Config.load_presets([]) == Config()


def test_paper_preset_after_a_dataset_preset_restores_the_paper_recipe():
    configs = Path(__file__).resolve().parents[1] / "configs"
    config = Config.load_presets([configs / "camus.yaml", configs / "paper.yaml"])
    m = config.model
    assert (m.latent_factor, m.prediction, m.decoder_input) == ([16, 16], "eps", "z_minus_eps")
    assert (m.sampling_path_share, m.dropout, m.max_attention_tokens) == (0.0, 0.2, None)
    assert (m.image_latent_channels, m.label_latent_channels) == (1, 1)
    assert (m.decoder_image_skips, m.stem_stride) == (False, 1)
    assert config.data.size == [224, 224] and m.num_classes == 4
    camus = Config.load_presets([configs / "camus.yaml"]).train.lr_schedule
    assert (camus, config.train.lr_schedule) == ("cosine", "exponential")


def test_a_version_1_run_config_keeps_its_latent_factor():
    raw = Config().to_dict()
    raw["version"], raw["model"]["latent_factor"] = "1", None
    assert Config.from_dict(raw).model.latent_factor == [16, 16]
    raw["version"] = "2"
    assert Config.from_dict(raw).model.latent_factor is None


def test_slicing_keys_are_checked_and_old_run_configs_load_without_them(tmp_path):
    raw = Config().to_dict()
    del raw["data"]["slicing"], raw["data"]["slice_axis"]  # a run folder from before the keys
    path = tmp_path / "config.json"
    path.write_text(json.dumps(raw))
    assert Config.load(path).data.slicing == "none"
    for data, match in [
        (
            {"size": [16, 16, 8], "slicing": "2d"},
            r"x\.yaml: data\.slicing 2d needs a 2D data\.size",
        ),
        ({"size": [16, 16], "slice_axis": 1}, r"x\.yaml: data\.slice_axis .* needs data\.slicing"),
        ({"size": [16, 16], "slicing": "2d", "slice_axis": 3}, r"data\.slice_axis must be 0, 1"),
        ({"slicing": "3d"}, r"data\.slicing must be one of"),
    ]:
        with pytest.raises(LDSegError, match=match):
            Config.from_dict({"data": data}, "x.yaml", partial=True)
    assert Config.load(Path(__file__).resolve().parents[1] / "configs" / "acdc-2d.yaml", True)


def test_folds_are_checked_and_a_config_from_before_them_loads():
    raw = Config().to_dict()
    del raw["data"]["folds"], raw["data"]["fold"]  # a run folder written before folds
    data = Config.from_dict(raw).data
    assert (data.folds, data.fold) == (0, 0)
    for folds, fold in ((1, 0), (-2, 0), (3, 3), (0, 1), (2, -1)):
        raw["data"] |= {"folds": folds, "fold": fold}
        with pytest.raises(LDSegError, match=r"data\.folds must be 0 \(none\) or at least 2"):
            Config.from_dict(raw)
    raw["data"] |= {"folds": 5, "fold": 4}
    assert Config.from_dict(raw).data.fold == 4
    del raw["data"]["layout"]
    with pytest.raises(LDSegError, match=r"missing key\(s\) layout"):
        Config.from_dict(raw)


def test_image_latent_channels_is_checked_and_a_config_from_before_it_loads_with_one(tmp_path):
    raw = Config().to_dict()
    raw["model"]["image_latent_channels"] = 8
    assert Config.from_dict(raw).model.image_latent_channels == 8
    del raw["model"]["image_latent_channels"]  # a run folder written before the key: the paper's
    assert Config.from_dict(raw).model.image_latent_channels == 1
    raw["model"]["image_latent_channels"] = 0
    with pytest.raises(LDSegError, match="image_latent_channels and label_latent_channels"):
        Config.from_dict(raw)
    raw["model"]["image_latent_channels"] = 1
    del raw["model"]["label_latent_channels"]  # before the key: the paper's one channel
    assert Config.from_dict(raw).model.label_latent_channels == 1
    raw["model"]["label_latent_channels"] = 0
    with pytest.raises(LDSegError, match="image_latent_channels and label_latent_channels"):
        Config.from_dict(raw)
    preset = tmp_path / "preset.yaml"  # a preset without the key takes the default
    preset.write_text("train: {epochs: 3}\n")
    default = ModelConfig().image_latent_channels
    assert Config.load(preset, preset=True).model.image_latent_channels == default


def test_a_config_from_before_the_lr_schedule_keeps_the_exponential_one():
    raw = Config().to_dict()
    raw["train"]["lr_schedule"] = "cosine"
    assert Config.from_dict(raw).train.lr_schedule == "cosine"
    del raw["train"]["lr_schedule"]  # a run folder written before the key
    assert Config.from_dict(raw).train.lr_schedule == "exponential"


def test_architecture_levers_are_checked_and_a_config_from_before_them_loads_the_papers():
    raw = Config().to_dict()
    del raw["model"]["decoder_image_skips"], raw["model"]["stem_stride"]
    model = Config.from_dict(raw).model  # a run folder written before the keys
    assert model.decoder_image_skips is False and model.stem_stride == 1
    raw["model"]["stem_stride"] = 4
    with pytest.raises(LDSegError, match=r"model\.stem_stride must be 1 or 2"):
        Config.from_dict(raw)
