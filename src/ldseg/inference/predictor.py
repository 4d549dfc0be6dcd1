"""Segment arrays and files with a trained run folder (nnU-Net style predictor object)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ldseg.config import Config
from ldseg.data.geometry import target_shape, window_inference
from ldseg.data.io import file_stem, mask_suffix, read_image, write_mask
from ldseg.data.transforms import preprocess_image, resize_probabilities
from ldseg.errors import DataError, LDSegError, RunFolderError
from ldseg.model import LDSeg
from ldseg.models import build_model
from ldseg.training.checkpoint import load_model_tensors, load_weights


@dataclass
class Prediction:
    """A segmentation: class indices ``(*S)`` and class probabilities ``(C, *S)``.

    With several samples, ``probabilities`` is their mean, ``mask`` its argmax and ``std`` the
    per-pixel standard deviation over samples of the predicted class's probability ``(*S)``.
    """

    mask: np.ndarray
    probabilities: np.ndarray
    std: np.ndarray | None = None


@dataclass
class Trajectory:
    """The reverse process of one sample: the latent at each timestep and its decoded mask.

    ``timesteps[i]`` is the noise level of ``latents[i]`` (T for the initial noise, 0 for the
    final latent); ``masks[i]`` is ``argmax label_decoder(latents[i])`` at the input size.
    """

    timesteps: list[int]
    latents: list[np.ndarray]
    masks: list[np.ndarray]


def preprocess(
    config: Config,
    image: np.ndarray,
    source: str | Path = "array",
    spacing: Sequence[float] | None = None,
) -> torch.Tensor:
    """An image ``(C, *S)`` or ``(*S)`` of voxel ``spacing``, normalised and resized to the
    run's training size (or, without ``data.resize``, kept or resampled to ``data.spacing``)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == config.spatial_dims:
        image = image[None]
    if image.ndim != config.spatial_dims + 1:
        raise DataError(
            f"{source}: expected a {config.spatial_dims}D image with a channel axis, "
            f"got shape {image.shape}"
        )
    size = target_shape(image.shape[1:], spacing, config.data)
    return preprocess_image(image, config.model.in_channels, config.data.intensity, size, source)


@dataclass
class LoadedImage:
    """An image file read and preprocessed (``tensor``), or the error that stopped it."""

    index: int
    path: Path
    tensor: torch.Tensor | None = None
    shape: tuple[int, ...] = ()  # the input's spatial shape, to resize the prediction back
    image: np.ndarray | None = None  # the image as read, kept only when asked for
    error: LDSegError | None = None


class ImageFiles(Dataset):
    """Image files read and preprocessed for a run, e.g. in ``DataLoader`` worker processes;
    a file that fails with an :class:`LDSegError` is returned with its error, not raised."""

    def __init__(self, paths: Sequence[str | Path], config: Config, keep_images: bool = False):
        self.paths = [Path(p) for p in paths]
        self.config = config
        self.keep_images = keep_images

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> LoadedImage:
        path = self.paths[index]
        try:
            image, meta = read_image(path)
            tensor = preprocess(self.config, image, path, meta["spacing"])
        except LDSegError as err:
            return LoadedImage(index, path, error=err)
        shape = tuple(image.shape[-self.config.spatial_dims :])
        return LoadedImage(index, path, tensor, shape, image if self.keep_images else None)


def _as_is(item: LoadedImage) -> LoadedImage:
    """The DataLoader's collate function: items are grouped into batches after loading."""
    return item


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

    def preprocess(
        self,
        image: np.ndarray,
        source: str | Path = "array",
        spacing: Sequence[float] | None = None,
    ) -> torch.Tensor:
        """:func:`preprocess` with this run's configuration."""
        return preprocess(self.config, image, source, spacing)

    def make_sampler(self, steps: int | None = None, sampler: str | None = None):
        """A DDIM/DDPM sampler with K = ``steps`` timesteps (defaults: the run's); None for a
        model without a noise schedule (a deterministic baseline)."""
        try:
            return self.model.make_sampler(
                sampler or self.config.sampling.sampler,
                self.config.sampling.steps if steps is None else steps,
            )
        except ValueError as err:
            raise LDSegError(str(err)) from None

    def initial_noise(
        self, spatial_shape: Sequence[int], generator: torch.Generator
    ) -> torch.Tensor:
        """The initial LDSeg latent ``(1, 1, *latent)`` for an input of ``spatial_shape``, drawn
        from ``generator`` as ``LDSeg.sample`` draws it."""
        factor = self.model.latent_factor
        latent = [1, 1, *(s // f for s, f in zip(spatial_shape, factor, strict=True))]
        return torch.randn(latent, generator=generator, device=self.device)

    def _sample(
        self, images: torch.Tensor, diffusion_sampler, seeds: Sequence[int], **kwargs
    ) -> torch.Tensor:
        """``model.sample`` on a batch; an LDSeg latent starts from one noise draw per seed
        (the first seed's generator goes on to the sampler, e.g. for DDPM's noise)."""
        generators = [torch.Generator(device=self.device).manual_seed(s) for s in seeds]
        if isinstance(self.model, LDSeg):
            noise = [self.initial_noise(images.shape[2:], g) for g in generators]
            kwargs["noise"] = torch.cat(noise)
            if "trajectory" in kwargs:
                kwargs["trajectory"].append(kwargs["noise"])
        return self.model.sample(images, diffusion_sampler, generators[0], **kwargs)

    @torch.no_grad()
    def sample_batch(
        self,
        images: torch.Tensor,
        steps: int | None = None,
        sampler: str | None = None,
        seeds: Sequence[int] = (0,),
        batch_size: int = 16,
    ) -> torch.Tensor:
        """Class probabilities ``(B, C, *size)`` of preprocessed images ``(B, C, *size)``.

        Image ``i`` starts from the noise seeded by ``seeds[i]``, the same noise
        :meth:`predict_array` draws for that seed (a single seed is used for every image);
        images run through the model ``batch_size`` at a time. Without ``data.resize`` each image
        goes through a sliding window, every window starting from its image's seed.
        """
        seeds = list(seeds) * len(images) if len(seeds) == 1 else list(seeds)
        if len(seeds) != len(images):
            raise ValueError(f"{len(seeds)} seeds for {len(images)} images")
        diffusion_sampler = self.make_sampler(steps, sampler)
        if not self.config.data.resize:
            return torch.cat(
                [
                    window_inference(
                        lambda w, s=s: self._sample(w, diffusion_sampler, [s]),
                        image[None].to(self.device),
                        self.config.data,
                    ).cpu()
                    for image, s in zip(images, seeds, strict=True)
                ]
            )
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size].to(self.device).contiguous()
            out.append(self._sample(chunk, diffusion_sampler, seeds[start:][:batch_size]).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def predict_array(
        self,
        image: np.ndarray,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        source: str | Path = "array",
        samples: int = 1,
        spacing: Sequence[float] | None = None,
    ) -> Prediction:
        """Segment one image ``(C, *S)`` (or ``(*S)`` for one channel) of any size.

        The image is normalised and resized to the training size, sampled with ``steps``
        DDIM/DDPM steps from noise seeded by ``seed``, and the probabilities are resized back.
        ``samples`` > 1 draws that many samples (seeds ``seed``, ``seed + 1``, ...) and returns
        their mean probabilities, its argmax and the per-pixel standard deviation (``std``).
        ``spacing`` is the image's voxel spacing, needed when the run resamples to a spacing.
        """
        tensor = self.preprocess(image, source, spacing)
        shape = tuple(np.shape(image)[-self.config.spatial_dims :])
        return self.predict_batch(tensor[None], [shape], steps, sampler, seed, samples)[0]

    @torch.no_grad()
    def predict_batch(
        self,
        images: torch.Tensor,
        shapes: Sequence[Sequence[int]],
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        samples: int = 1,
        batch_size: int = 16,
    ) -> list[Prediction]:
        """Segment preprocessed images ``(N, C, *size)`` and resize each back to ``shapes[i]``.

        Every image gets the samples :meth:`predict_array` would draw for it (seeds ``seed``,
        ``seed + 1``, ...); the N x ``samples`` samples run through the model ``batch_size`` at
        a time, so batching changes the speed, not the noise.
        """
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        rows = [(i, seed + s) for i in range(len(images)) for s in range(samples)]
        dtype = torch.float64 if samples > 1 else torch.float32  # float32 holds one sample
        total = torch.zeros(len(images), self.model.num_classes, *images.shape[2:], dtype=dtype)
        squares = torch.zeros_like(total) if samples > 1 else None
        for start in range(0, len(rows), batch_size):
            index, seeds = zip(*rows[start : start + batch_size], strict=True)
            index = torch.tensor(index)
            probs = self.sample_batch(images[index], steps, sampler, seeds, batch_size).to(dtype)
            total.index_add_(0, index, probs)
            if squares is not None:
                squares.index_add_(0, index, probs**2)
        predictions = []
        for i, shape in enumerate(shapes):
            mean = resize_probabilities((total[i] / samples).float(), shape)
            mask = mean.argmax(0)
            std = None
            if squares is not None:
                variance = (squares[i] / samples - (total[i] / samples) ** 2).clamp(min=0).float()
                std = resize_probabilities(variance.sqrt(), shape).gather(0, mask[None])[0].numpy()
            predictions.append(Prediction(mask.numpy().astype(np.uint8), mean.numpy(), std))
        return predictions

    @torch.no_grad()
    def predict_trajectory(
        self,
        image: np.ndarray,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        source: str | Path = "array",
        max_frames: int = 50,
    ) -> tuple[Prediction, Trajectory]:
        """Segment like :meth:`predict_array` and keep the latent and its decoded mask at up to
        ``max_frames`` evenly spaced points of the reverse process (always the first and last)."""
        if not isinstance(self.model, LDSeg):
            raise LDSegError(
                f"a reverse-process trajectory needs an LDSeg run, not {type(self.model).__name__}"
            )
        tensor = self.preprocess(image, source)[None].to(self.device)
        shape = np.shape(image)[-self.config.spatial_dims :]
        diffusion_sampler = self.make_sampler(steps, sampler)
        latents: list[torch.Tensor] = []
        probs = self._sample(tensor, diffusion_sampler, [seed], trajectory=latents)[0].cpu()
        probs = resize_probabilities(probs, shape)
        timesteps = [*diffusion_sampler.timesteps.tolist(), 0]
        kept = np.unique(np.linspace(0, len(latents) - 1, max(max_frames, 2)).round().astype(int))
        masks = []
        for i in kept:
            decoded = torch.softmax(self.model.label_decoder(latents[i]), dim=1)[0].cpu()
            masks.append(resize_probabilities(decoded, shape).argmax(0).numpy().astype(np.uint8))
        trajectory = Trajectory(
            [timesteps[i] for i in kept], [latents[i][0, 0].cpu().numpy() for i in kept], masks
        )
        return Prediction(probs.argmax(0).numpy().astype(np.uint8), probs.numpy()), trajectory

    def predict_file(
        self,
        path: str | Path,
        out_dir: str | Path,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        samples: int = 1,
        save_uncertainty: bool = False,
        save_trajectory: bool = False,
    ) -> Path:
        """Segment an image file into ``out_dir`` (see :meth:`predict_files`); returns the mask's
        path and raises the file's error."""
        options = (steps, sampler, seed, samples, save_uncertainty, save_trajectory)
        return self.predict_files([path], out_dir, *options)[0]

    def predict_files(
        self,
        paths: Sequence[str | Path],
        out_dir: str | Path,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        samples: int = 1,
        save_uncertainty: bool = False,
        save_trajectory: bool = False,
        batch_size: int = 8,
        workers: int = 0,
        on_error: Callable[[LDSegError], None] | None = None,
    ) -> list[Path]:
        """Segment image files and write each mask into ``out_dir``: same stem, on the input's
        exact grid (PNG for rasters; NIfTI, MHA or NRRD with the input's geometry for volumes).

        ``workers`` processes read and preprocess the files (``DataLoader``; 0 reads in this
        process); images of the same preprocessed size are sampled ``batch_size`` at a time,
        each from the noise of ``seed`` exactly as :meth:`predict_array` samples it alone.
        ``samples`` > 1 writes the argmax of the mean of that many samples; ``save_uncertainty``
        (needs ``samples`` > 1) also writes the mean foreground probability and the per-pixel
        SD into ``out_dir/uncertainty``; ``save_trajectory`` writes a picture strip and a GIF of
        the reverse process (sample ``seed``) into ``out_dir/trajectory``.

        A file that fails with an :class:`LDSegError` is passed to ``on_error`` and skipped, or
        raised without ``on_error``. Returns the written masks' paths in input order.
        """
        if save_uncertainty and samples < 2:
            raise LDSegError("uncertainty maps need at least 2 samples")
        if batch_size < 1 or workers < 0:
            raise LDSegError(
                f"batch size must be >= 1 and workers >= 0, got {batch_size}, {workers}"
            )
        out_dir = Path(out_dir)
        loader = DataLoader(
            ImageFiles(paths, self.config, keep_images=save_trajectory),
            batch_size=None,
            num_workers=min(workers, len(paths)),
            collate_fn=_as_is,
        )
        written: dict[int, Path] = {}

        def failed(err: LDSegError) -> None:
            if on_error is None:
                raise err
            on_error(err)

        def segment(group: list[LoadedImage]) -> None:
            images = torch.stack([item.tensor for item in group])
            shapes = [item.shape for item in group]
            predictions = self.predict_batch(
                images, shapes, steps, sampler, seed, samples, batch_size
            )
            for item, prediction in zip(group, predictions, strict=True):
                try:
                    written[item.index] = self._write_outputs(
                        item, prediction, out_dir, steps, sampler, seed, save_uncertainty
                    )
                except LDSegError as err:
                    failed(err)

        groups: dict[tuple[int, ...], list[LoadedImage]] = {}
        for item in loader:
            if item.error is not None:
                failed(item.error)
                continue
            group = groups.setdefault(tuple(item.tensor.shape), [])
            group.append(item)
            if len(group) == batch_size:
                segment(groups.pop(tuple(item.tensor.shape)))
        for group in groups.values():
            segment(group)
        return [written[i] for i in sorted(written)]

    def _write_outputs(
        self,
        item: LoadedImage,
        prediction: Prediction,
        out_dir: Path,
        steps: int | None,
        sampler: str | None,
        seed: int,
        save_uncertainty: bool,
    ) -> Path:
        """Write a file's mask, and its uncertainty maps and trajectory figures if asked."""
        stem = file_stem(item.path)
        if item.image is not None:
            from ldseg.experiments.trajectory import save_trajectory_figures

            _, trajectory = self.predict_trajectory(item.image, steps, sampler, seed, item.path)
            names = self.config.data.class_names
            save_trajectory_figures(item.image, trajectory, out_dir / "trajectory", stem, names)
        if save_uncertainty:
            from ldseg.experiments.uncertainty import write_uncertainty_maps

            write_uncertainty_maps(prediction, item.path, out_dir / "uncertainty")
        return write_mask(prediction.mask, item.path, out_dir / f"{stem}{mask_suffix(item.path)}")
