"""Segment arrays and files with a trained run folder (nnU-Net style predictor object)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ldseg.config import Config
from ldseg.data.io import file_stem, read_image, write_mask
from ldseg.data.transforms import preprocess_image, resize_probabilities
from ldseg.diffusion import make_sampler
from ldseg.errors import DataError, LDSegError, RunFolderError
from ldseg.model import LDSeg, build_model
from ldseg.training.checkpoint import load_model_tensors, load_weights


@dataclass
class Prediction:
    """A segmentation: class indices ``(*S)`` and class probabilities ``(C, *S)``."""

    mask: np.ndarray
    probabilities: np.ndarray


class Predictor:
    """Loads a run folder (``config.json`` + ``.safetensors`` weights) and segments images.

    Example::

        predictor = Predictor.from_run("runs/camus")
        mask = predictor.predict_array(image).mask      # image: (C, H, W) or (H, W)
        predictor.predict_file("case.png", "predictions/")
    """

    def __init__(self, model: LDSeg, config: Config, device: str | torch.device = "cpu") -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.device = torch.device(device)

    @classmethod
    def from_run(
        cls, run_dir: str | Path, weights: str = "best", device: str | torch.device = "cpu"
    ) -> Predictor:
        """Load ``run_dir/config.json`` and ``run_dir/<weights>.safetensors`` (no pickle)."""
        run_dir = Path(run_dir)
        config_path = run_dir / "config.json"
        if not config_path.is_file():
            raise RunFolderError(f"{config_path}: not found; is {run_dir} a run folder?")
        try:
            config = Config.load(config_path)
        except LDSegError as err:
            raise RunFolderError(str(err)) from None
        if not (config.model.in_channels and config.model.num_classes):
            raise RunFolderError(f"{config_path}: in_channels and num_classes must be set")
        model = build_model(config)
        weights_path = run_dir / f"{weights}.safetensors"
        load_model_tensors(model, load_weights(weights_path), weights_path)
        return cls(model, config, device)

    @torch.no_grad()
    def predict_array(
        self,
        image: np.ndarray,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        source: str | Path = "array",
    ) -> Prediction:
        """Segment one image ``(C, *S)`` (or ``(*S)`` for one channel) of any size.

        The image is normalised and resized to the training size, sampled with ``steps``
        DDIM/DDPM steps from noise seeded by ``seed``, and the probabilities are resized back.
        """
        cfg = self.config
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == cfg.spatial_dims:
            image = image[None]
        if image.ndim != cfg.spatial_dims + 1:
            raise DataError(
                f"{source}: expected a {cfg.spatial_dims}D image with a channel axis, "
                f"got shape {image.shape}"
            )
        tensor = preprocess_image(
            image, cfg.model.in_channels, cfg.data.intensity, cfg.data.size, source
        )
        diffusion_sampler = make_sampler(sampler or cfg.sampling.sampler, self.model.schedule)
        diffusion_sampler.set_timesteps(steps or cfg.sampling.steps)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        probs = self.model.sample(
            tensor[None].to(self.device),
            diffusion_sampler,
            generator=generator,
            restandardize=cfg.sampling.restandardize,
        )[0].cpu()
        probs = resize_probabilities(probs, image.shape[1:])
        return Prediction(probs.argmax(0).numpy().astype(np.uint8), probs.numpy())

    def predict_file(
        self,
        path: str | Path,
        out_dir: str | Path,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
    ) -> Path:
        """Segment an image file and write its mask into ``out_dir`` (same stem, PNG or NIfTI)."""
        path = Path(path)
        image, _ = read_image(path)
        prediction = self.predict_array(image, steps, sampler, seed, source=path)
        suffix = ".nii.gz" if path.name.endswith((".nii", ".nii.gz")) else ".png"
        return write_mask(prediction.mask, path, Path(out_dir) / f"{file_stem(path)}{suffix}")

    def predict_files(
        self,
        paths: Sequence[str | Path],
        out_dir: str | Path,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
    ) -> list[Path]:
        """Segment several files into ``out_dir``."""
        return [self.predict_file(p, out_dir, steps, sampler, seed) for p in paths]
