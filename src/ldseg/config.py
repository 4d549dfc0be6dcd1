"""Run configuration: everything needed to rebuild a model and repeat its preprocessing.

A run folder's ``config.json`` is validated against these dataclasses on load: unknown keys,
missing sections and wrongly typed values are refused, so a tampered config cannot slip
through.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ldseg.diffusion import DDIM, PREDICTION_TYPES, SAMPLER_NAMES, SCHEDULE_KINDS
from ldseg.errors import LDSegError
from ldseg.models import DECODER_INPUTS, MODEL_NAMES
from ldseg.models.sizes import size_problems
from ldseg.utils import atomic_write_text, build_dataclass, parse_yaml

INTENSITY_MODES = ("minmax", "zscore", "percentile")
LAYOUTS = ("auto", "folders", "nnunet", "list", "glas")
AUGMENTATIONS = ("flip", "rot90", "affine", "intensity")
WINDOW_BLENDS = ("gaussian", "constant")
PRECISIONS, CACHE_MODES = ("fp32", "bf16", "fp16"), ("auto", "memory", "lazy")
SLICINGS, LR_SCHEDULES = ("none", "2d"), ("exponential", "cosine")
# Keys absent from older run folders, per section, with the value they had there.
NEWER_KEYS = {
    "data": {"slicing": "none", "slice_axis": None, "cache": "auto", "folds": 0, "fold": 0},
    "model": {"image_latent_channels": 1, "label_latent_channels": 1, "stem_stride": 1},
    "train": {"lr_schedule": "exponential"},
}
NEWER_KEYS["model"] |= {"decoder_image_skips": False, "decoder_image_head": False}


@dataclass
class ModelConfig:
    """Architecture, noise schedule and loss weights (see ``ldseg.models.LDSeg``)."""

    name: str = "ldseg"
    in_channels: int = 0  # 0: taken from the training images
    num_classes: int = 0  # 0: the largest label value in the training masks + 1
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64, 32])
    latent_factor: list[int] | None = None  # None: 8 per axis (the paper: 16)
    denoiser_channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    denoiser_attention: list[bool] = field(default_factory=lambda: [False, True, True])
    num_res_blocks: int = 2
    num_heads: int = 4
    dropout: float = 0.0  # the paper: 0.2
    timesteps: int = 1000
    schedule: str = "cosine"
    gamma: float = 2.0
    lam: float = 1.0
    decoder_input: str = "x0"  # the paper: z_minus_eps
    prediction: str = "v"  # the paper: eps
    timestep_share: float = 0.0
    sampling_path_share: float = 0.5  # the paper: 0.0
    max_attention_tokens: int | None = 1024  # the paper: None (attention at every size)
    label_latent_channels: int = 4  # z_l's channels, the shape latent (the paper: 1)
    image_latent_channels: int = 8  # z_i's channels, the denoiser's condition (the paper: 1)
    decoder_image_skips: bool = True  # the label decoder takes image-encoder skips (paper: no)
    stem_stride: int = 2  # the encoders start by 2x2 average pooling (the paper: 1, none)
    decoder_image_head: bool = False  # the decoder's full-resolution head also sees the image


@dataclass
class DataConfig:
    """Dataset layout, labels, geometry, intensity and augmentation.

    Attributes:
        size: the network's input size, [H, W] or [H, W, D] (its length sets 2D or 3D): the
            whole image with ``resize``, else the training crop and the sliding window. Each
            axis must divide by the model's latent factor.
        intensity: per-channel normalisation: ``minmax`` (to [0, 1]), ``zscore``, or
            ``percentile`` (the 0.5 to 99.5 percentile range to [0, 1], clipped).
        class_names: one name per class, background first, for reports and overlays.
        val_fraction: the share of training pairs held out for validation when there is no
            ``--val-data`` and no ``val`` split.
        folds: cross-validation: the training cases split by patient into this many folds
            (0: none).
        fold: the fold (0 to ``folds`` - 1) whose cases validate the run.
        layout: ``auto`` (detected), ``folders``, ``nnunet``, ``list`` (CSV or JSON pairs) or
            ``glas``.
        binarize: T makes ``mask > T`` the foreground (127 for JPEG or 0/255 masks, 0 for
            instance ids); null reads mask values as class indices.
        class_mapping: ``class_mapping[v]`` is the class of label value ``v`` (null: the value).
        resize: true resizes each image to ``size`` (probabilities are resized back); false
            keeps its grid, with random crops in training and a sliding window at prediction.
        spacing: with ``resize`` false, the voxel spacing images are resampled to first, one
            value per axis (null: each image's own grid).
        window_overlap: the overlap of neighbouring sliding windows, in [0, 1).
        window_blend: how overlapping windows are weighted: ``gaussian`` or ``constant``.
        augment: any of ``flip`` (every axis), ``rot90`` (first two axes, square there),
            ``affine`` (in-plane rotation up to 15 degrees, scale 0.9 to 1.1) and
            ``intensity`` (scale and shift up to 10 %, Gaussian noise).
        slicing: ``none``, or ``2d``: a 2D model of ``size`` trained on the slices of volumes,
            which predicts each volume slice by slice onto its own grid.
        slice_axis: the axis (0, 1 or 2) that ``2d`` slicing cuts along; null: each volume's
            axis of largest spacing, and of equal spacings the one with fewest voxels.
        cache: ``memory`` holds the preprocessed cases in memory, ``lazy`` reads each from disk
            when used, ``auto`` picks memory when they take at most a quarter of what is free.
    """

    size: list[int] = field(default_factory=lambda: [128, 128])
    intensity: str = "minmax"
    class_names: list[str] | None = None
    val_fraction: float = 0.1
    folds: int = 0  # cross-validation (ldseg.data.folds): N folds (0: none), ``fold`` validates
    fold: int = 0
    layout: str = "auto"
    binarize: float | None = None
    class_mapping: list[int] | None = None
    resize: bool = True
    spacing: list[float] | None = None
    window_overlap: float = 0.25
    window_blend: str = "gaussian"
    augment: list[str] = field(default_factory=list)
    slicing: str = "none"
    slice_axis: int | None = None
    cache: str = "auto"  # training cases in memory, lazy (read when used) or auto (by size)

    def problems(self) -> list[str]:
        """What is wrong with the data settings (empty when they are valid)."""
        found = []
        if self.layout not in LAYOUTS:
            found.append(f"data.layout must be one of {LAYOUTS}")
        if self.class_mapping is not None and (
            not self.class_mapping or min(self.class_mapping) < 0
        ):
            found.append("data.class_mapping must be a non-empty list of classes >= 0")
        if self.spacing is not None and (
            len(self.spacing) != len(self.size) or min(self.spacing) <= 0 or self.resize
        ):
            found.append("data.spacing needs data.resize false and one positive value per axis")
        if not 0 <= self.window_overlap < 1:
            found.append("data.window_overlap must be in [0, 1)")
        if self.window_blend not in WINDOW_BLENDS:
            found.append(f"data.window_blend must be one of {WINDOW_BLENDS}")
        if self.cache not in CACHE_MODES:
            found.append(f"data.cache must be one of {CACHE_MODES}")
        unknown = sorted(set(self.augment) - set(AUGMENTATIONS))
        if unknown:
            found.append(f"data.augment {unknown}: choose from {AUGMENTATIONS}")
        if "rot90" in self.augment and len(set(self.size[:2])) > 1:
            found.append("data.augment rot90 needs a square size in the first two axes")
        if self.slicing not in SLICINGS:
            found.append(f"data.slicing must be one of {SLICINGS}")
        elif self.slicing == "2d" and len(self.size) != 2:
            found.append(f"data.slicing 2d needs a 2D data.size (the slice size), got {self.size}")
        if self.slice_axis is not None and (
            self.slicing != "2d" or self.slice_axis not in (0, 1, 2)
        ):
            found.append("data.slice_axis must be 0, 1 or 2 (or null) and needs data.slicing 2d")
        return found


@dataclass
class TrainConfig:
    """Optimisation (Adam, its learning-rate schedule), EMA, validation cadence, seed.

    Attributes:
        epochs: training epochs (``train --resume RUN --epochs N`` extends a finished run).
        batch_size: images per batch and process (``torchrun`` with N processes: N x this).
        lr: Adam's initial learning rate.
        lr_schedule: ``exponential`` (times ``lr_decay`` each epoch) or ``cosine`` (a half
            cosine to 0 over ``epochs``, or over ``max_minutes`` when that ends the run first).
        lr_decay: the exponential schedule's factor per epoch.
        ema_decay: decay of the denoiser's moving average that sampling uses (warm-up
            ``min(decay, (1 + n) / (10 + n))`` over the updates n).
        val_every: validate every this many epochs, and after the last one.
        flips: random flips along every axis in training (false where orientation matters);
            ``predict --tta`` needs them.
        seed: the seed of every random draw (with the epoch and the case), of the validation
            hold-out and of the folds.
        max_minutes: a wall-clock budget: stop after the epoch that exceeds it (0: none).
        precision: ``fp32``, ``bf16`` autocast (CPU or GPU) or ``fp16`` autocast with gradient
            scaling (GPU only); validation and saved weights stay fp32.
    """

    epochs: int = 50
    batch_size: int = 4
    lr: float = 1e-3
    lr_schedule: str = "exponential"  # or cosine: to 0 over train.epochs or train.max_minutes
    lr_decay: float = 0.98  # the exponential schedule's factor an epoch
    ema_decay: float = 0.999
    val_every: int = 5
    flips: bool = True
    seed: int = 0
    max_minutes: float = 0.0  # wall-clock budget: stop after the epoch that exceeds it (0: none)
    precision: str = "fp32"


@dataclass
class SamplingConfig:
    """Defaults for validation and prediction.

    Attributes:
        sampler: ``ddim`` (deterministic given the initial noise) or ``ddpm`` (ancestral).
        steps: the number of sampling steps K, at timesteps ``round(linspace(1, T, K))``.
        restandardize: give the latent mean 0 and SD 1 after every sampling step, as the
            reference implementation does.
    """

    sampler: str = DDIM
    steps: int = 2
    restandardize: bool = True


@dataclass
class Config:
    """The whole run configuration, saved as ``config.json`` in a run folder.

    Attributes:
        model: the architecture, noise schedule and loss weights.
        data: the dataset layout, labels, geometry, intensity and augmentation.
        train: the optimisation, EMA, validation cadence and seed.
        sampling: the sampler and steps that validation and prediction use by default.
        version: the config format: ``"2"``, where a missing ``model.latent_factor`` means 8
            per axis; run folders of version ``"1"`` meant 16 per axis, the paper's.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    version: str = "2"  # 2: a missing model.latent_factor means 8 per axis (1: 16, the paper's)

    @property
    def spatial_dims(self) -> int:
        return len(self.data.size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(
        cls, raw: dict[str, Any], source: str = "config", partial: bool = False
    ) -> Config:
        """Build and validate a config; ``partial`` allows missing keys (a preset on defaults)."""
        model, data = raw.get("model"), raw.get("data")
        old = raw.get("version") == "1" and isinstance(model, dict) and isinstance(data, dict)
        if old and not model.get("latent_factor"):  # a version-1 run folder: keep its latent
            stages = len(model.get("channels") or ModelConfig().channels) - 1
            raw = {**raw, "model": {**model, "latent_factor": [2**stages] * len(data["size"])}}
        for section, newer in NEWER_KEYS.items():
            if isinstance(raw.get(section), dict) and not partial:  # a run folder from before
                raw = {**raw, section: {**newer, **raw[section]}}  # these keys: their old values
        config = build_dataclass(cls, raw, source, partial)
        config.validate(source)
        return config

    def validate(self, source: str = "config") -> None:
        """Check value ranges that types alone do not capture."""
        problems = []
        if len(self.data.size) not in (2, 3) or min(self.data.size) < 1:
            problems.append(f"data.size {self.data.size} must be 2 or 3 positive integers")
        if self.model.latent_factor and len(self.model.latent_factor) != len(self.data.size):
            problems.append(f"model.latent_factor {self.model.latent_factor} must match data.size")
        if self.model.num_classes == 1 or self.model.num_classes < 0:
            problems.append("model.num_classes must be at least 2 (or 0 to take it from the data)")
        if self.model.in_channels < 0:
            problems.append("model.in_channels must be positive (or 0 to take it from the data)")
        if self.model.name not in MODEL_NAMES:
            problems.append(f"model.name must be one of {', '.join(MODEL_NAMES)}")
        if self.model.schedule not in SCHEDULE_KINDS:
            problems.append(f"model.schedule must be one of {SCHEDULE_KINDS}")
        if self.model.decoder_input not in DECODER_INPUTS:
            problems.append(f"model.decoder_input must be one of {DECODER_INPUTS}")
        if self.model.prediction not in PREDICTION_TYPES:
            problems.append(f"model.prediction must be one of {PREDICTION_TYPES}")
        if not (0 <= self.model.timestep_share <= 1 and 0 <= self.model.sampling_path_share <= 1):
            problems.append("model.timestep_share and model.sampling_path_share must lie in [0, 1]")
        if self.model.image_latent_channels < 1 or self.model.label_latent_channels < 1:
            problems.append("model.image_latent_channels and label_latent_channels must be >= 1")
        if self.model.stem_stride not in (1, 2):
            problems.append("model.stem_stride must be 1 or 2")
        if self.model.decoder_image_head and not (
            self.model.decoder_image_skips and self.model.stem_stride == 2
        ):
            problems.append("model.decoder_image_head needs decoder_image_skips and stem_stride 2")
        if self.data.intensity not in INTENSITY_MODES:
            problems.append(f"data.intensity must be one of {INTENSITY_MODES}")
        if self.sampling.sampler not in SAMPLER_NAMES:
            problems.append(f"sampling.sampler must be one of {SAMPLER_NAMES}")
        if not 1 <= self.sampling.steps <= self.model.timesteps:
            problems.append(f"sampling.steps must be between 1 and {self.model.timesteps}")
        train = self.train
        if min(train.epochs, train.batch_size, train.val_every) < 1:
            problems.append("train.epochs, train.batch_size and train.val_every must be at least 1")
        if train.lr <= 0 or not 0 < train.lr_decay <= 1 or not 0 <= train.ema_decay < 1:
            problems.append("train.lr must be > 0, train.lr_decay in (0, 1], ema_decay in [0, 1)")
        if train.lr_schedule not in LR_SCHEDULES:
            problems.append(f"train.lr_schedule must be one of {LR_SCHEDULES}")
        if train.max_minutes < 0:
            problems.append("train.max_minutes must be 0 (no limit) or positive")
        if train.precision not in PRECISIONS:
            problems.append(f"train.precision must be one of {PRECISIONS}")
        problems += self.data.problems()
        problems += size_problems(self)
        model = self.model
        if min(model.num_res_blocks, model.num_heads, model.timesteps) < 1:
            problems.append("model.num_res_blocks, num_heads and timesteps must be at least 1")
        if not 0 <= model.dropout < 1 or model.gamma < 0 or model.lam < 0:
            problems.append("model.dropout must be in [0, 1), model.gamma and model.lam >= 0")
        if model.max_attention_tokens is not None and model.max_attention_tokens < 1:
            problems.append("model.max_attention_tokens must be at least 1 (or null: no limit)")
        if not 0 <= self.data.val_fraction < 1:
            problems.append("data.val_fraction must be in [0, 1)")
        folds, fold = self.data.folds, self.data.fold
        if not (folds == 0 or folds >= 2) or not 0 <= fold < max(folds, 1):
            problems.append("data.folds must be 0 (none) or at least 2, data.fold in 0..folds-1")
        mapping, classes = self.data.class_mapping, self.model.num_classes
        if mapping and classes and max(mapping) >= classes:
            problems.append(f"data.class_mapping reaches class {max(mapping)} of {classes}")
        names = self.data.class_names
        if names is not None and classes and len(names) != classes:
            problems.append(f"data.class_names has {len(names)} names for {classes} classes")
        if problems:
            raise LDSegError(f"{source}: " + "; ".join(problems))

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path, preset: bool = False) -> Config:
        """Read a run's ``config.json`` (every key required) or, with ``preset``, a YAML/JSON
        preset whose missing keys take the defaults."""
        return cls.from_dict(_read(Path(path)), str(path), partial=preset)

    @classmethod
    def load_presets(cls, paths: list[Path]) -> Config:
        """Presets applied in order on the defaults: a later file's keys override earlier ones."""
        raw: dict[str, Any] = {}
        for path in paths:
            for key, value in _read(Path(path)).items():
                both = isinstance(value, dict) and isinstance(raw.get(key), dict)
                raw[key] = {**raw[key], **value} if both else value
        return cls.from_dict(raw, " + ".join(str(p) for p in paths), partial=True)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
        raw = parse_yaml(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise LDSegError(f"{path}: cannot read config ({err})") from None
    if not isinstance(raw, dict):
        raise LDSegError(f"{path}: config must be a mapping")
    return raw
