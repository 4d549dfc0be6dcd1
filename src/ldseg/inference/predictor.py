"""Segment arrays and files with a trained run folder (nnU-Net style predictor object)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ldseg.config import Config
from ldseg.data.adapter import CaseAdapter, NetworkInput
from ldseg.data.inputs import ImageInput, as_input
from ldseg.errors import LDSegError
from ldseg.evaluation.postprocess import keep_largest_component
from ldseg.inference.batches import Batching, row_batches
from ldseg.inference.files import ImageFiles, LoadedImage, read_files
from ldseg.inference.pipeline import SegmentationPipeline
from ldseg.inference.results import FileOptions, Prediction, SamplingOptions
from ldseg.inference.sampling import Moments, flip_axes, predictions, sample_moments
from ldseg.inference.writers import planned_outputs, write_outputs, write_record
from ldseg.models import Segmenter
from ldseg.runs import RunFolder
from ldseg.runs.guard import check_outputs

TRAJECTORY_FRAMES = 50  # states of the reverse process kept for --save-trajectory pictures


class Predictor:
    """Loads a run folder (``config.json`` + ``.safetensors`` weights) and segments images.

    Example::

        predictor = Predictor.from_run("runs/camus")
        mask = predictor.predict_array(image).mask      # image: (C, H, W) or (H, W)
        predictor.predict_file("case.png", "predictions/")

    ``keep_largest``: the classes whose largest connected component alone the masks keep, 0 for
    all foreground as one region (the run's ``postprocessing.json``, see
    ``ldseg.evaluation.postprocess``).
    """

    def __init__(
        self,
        model: Segmenter,
        config: Config,
        device: str | torch.device = "cpu",
        run: RunFolder | None = None,
        weights: str | None = None,
        keep_largest: Sequence[int] = (),
    ) -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.device = torch.device(device)
        self.run, self.weights = run, weights  # where the model came from, for records
        self.keep_largest = list(keep_largest)
        self.adapter = CaseAdapter(config.data, config.model.in_channels)
        self._pipelines: dict[tuple, SegmentationPipeline] = {}

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        weights: str = "best",
        device: str | torch.device = "cpu",
        postprocess: bool = True,
    ) -> Predictor:
        """Load ``run_dir/config.json`` and ``run_dir/<weights>.safetensors`` (no pickle), and
        with ``postprocess`` the run's ``postprocessing.json`` decision."""
        run = RunFolder(run_dir)
        model, config = run.load_model(weights)
        keep_largest = run.postprocessing(weights) if postprocess else []
        return cls(model, config, device, run, weights, keep_largest)

    def pipeline(
        self, steps: int | None = None, sampler: str | None = None
    ) -> SegmentationPipeline:
        """The run's model with a sampler of K = ``steps`` (defaults: the run's) and its
        inferer, built once for each sampler and K."""
        sampling = self.config.sampling
        key = (sampler or sampling.sampler, sampling.steps if steps is None else steps)
        if key not in self._pipelines:
            try:
                diffusion_sampler = self.model.make_sampler(*key)
            except ValueError as err:
                raise LDSegError(str(err)) from None
            self._pipelines[key] = SegmentationPipeline(
                self.model, diffusion_sampler, self.config.data
            )
        return self._pipelines[key]

    def describe(self, sampling: SamplingOptions) -> dict:
        """Where the model comes from and how ``sampling`` resolves for it (the run's sampler
        and K where it leaves them open; None for a deterministic model; the flipped axes of
        each draw), with the post-processing and the config."""
        sampler = self.pipeline(sampling.steps, sampling.sampler).sampler
        flips = self.flips(sampling.tta)
        name = sampling.sampler or self.config.sampling.sampler
        return {
            "run": None if self.run is None else str(self.run.path.resolve()),
            "weights": self.weights,
            "device": str(self.device),
            "sampler": name if sampler else None,
            "steps": len(sampler.timesteps) if sampler else None,
            "flips": [list(axes) for axes in flips],
            "keep_largest_component": self.keep_largest,
            "config": self.config.to_dict(),
        }

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
        max_frames: int = 0,
        tta: bool = False,
    ) -> Prediction:
        """Segment one image ``(C, *S)`` (or ``(*S)`` for one channel) of any size.

        The image is normalised and resized to the training size, sampled with ``steps``
        DDIM/DDPM steps from noise seeded by ``seed``, and the probabilities are resized back.
        ``samples`` > 1 draws that many samples (seeds ``seed``, ``seed + 1``, ...) and returns
        their mean probabilities, its argmax and the per-pixel standard deviation (``std``).
        ``spacing`` is the image's voxel spacing, needed when the run resamples to a spacing.
        ``max_frames`` keeps the first sample's reverse process at up to that many evenly
        spaced states (always the first and last) in ``trajectory``. ``tta`` averages each
        sample over the axis flips the run was trained with; the mask keeps only the largest
        component of the classes in ``keep_largest``.
        A run that segments volumes slice by slice takes a volume ``(C, X, Y, Z)`` or
        ``(X, Y, Z)`` (``ldseg.data.adapter``) and records no trajectory.
        """
        sampling = SamplingOptions(steps, sampler, seed, samples, tta)
        if max_frames and self.adapter.trajectory_refusal:
            raise LDSegError(self.adapter.trajectory_refusal)
        inputs = self.adapter.array_inputs(image, spacing, source)
        ((_, _, prediction),) = self.segment([inputs], sampling, max_frames=max_frames)
        return prediction

    @torch.no_grad()
    def segment(
        self,
        cases: Iterable[NetworkInput],
        sampling: SamplingOptions | None = None,
        batch_size: int = 16,
        batching: Batching = "size",
        max_frames: int = 0,
    ) -> Iterator[tuple[int, NetworkInput, Prediction]]:
        """Segment network inputs (``self.adapter``), read from ``cases`` one at a time: each
        case's position in ``cases``, the case and its prediction on its own grid, as each
        case is done (with ``size`` batching, not always in order).

        Rows run through the model ``batch_size`` at a time as ``batching`` composes them
        (``ldseg.inference.batches``); every image gets the samples :meth:`predict_array`
        would draw for it, so batching changes the speed, not the noise. A case's rows are
        resized back and assembled (a volume's slices stacked), then the classes in
        ``keep_largest`` keep their largest component of the whole case. ``max_frames`` keeps
        each image's first-sample trajectory.
        """
        options = sampling or SamplingOptions()
        if options.samples < 1:
            raise ValueError(f"samples must be at least 1, got {options.samples}")
        done: dict[int, list[Prediction]] = {}
        for batch in row_batches(cases, batch_size, batching):
            images = torch.stack([case.images[row] for _, case, row in batch])
            shapes = [case.output_shapes()[row] for _, case, row in batch]
            moments = self.moments(images, shapes, options, batch_size, max_frames)
            for (position, case, _), part in zip(batch, predictions(moments, shapes), strict=True):
                parts = done.setdefault(position, [])
                parts.append(part)
                if len(parts) == len(case.images):
                    del done[position]
                    yield position, case, self._assemble(case, parts)

    def _assemble(self, case: NetworkInput, parts: Sequence[Prediction]) -> Prediction:
        """A case's prediction from its rows' (resized back), post-processed as a whole."""
        mask = keep_largest_component(case.assemble([p.mask for p in parts]), self.keep_largest)
        probabilities = case.assemble([p.probabilities for p in parts], channel_first=True)
        std = None if parts[0].std is None else case.assemble([p.std for p in parts])
        return Prediction(mask, probabilities, std, parts[0].trajectory)

    def moments(
        self,
        images: torch.Tensor,
        shapes: Sequence[Sequence[int]],
        options: SamplingOptions,
        batch_size: int = 16,
        max_frames: int = 0,
    ) -> Moments:
        """The mean class probabilities of preprocessed images over their samples (and flips
        with ``options.tta``) at the network's size (``ldseg.inference.sampling``)."""
        pipeline = self.pipeline(options.steps, options.sampler)
        flips = self.flips(options.tta)
        return sample_moments(
            pipeline, images, shapes, options, self.device, batch_size, max_frames, flips
        )

    def flips(self, tta: bool) -> list[tuple[int, ...]]:
        """The axes flipped in each draw (``ldseg.inference.sampling.flip_axes``)."""
        return flip_axes(self.config, tta, str(self.run.path) if self.run else "the run")

    def predict_file(self, path: str | Path, out_dir: str | Path, **options) -> Path:
        """Segment one image file into ``out_dir`` (see :meth:`predict_files`); returns the
        mask's path and raises the file's error."""
        return self.predict_files([path], out_dir, **options)[0]

    def predict_files(
        self,
        paths: Sequence[str | Path | ImageInput],
        out_dir: str | Path,
        *,
        steps: int | None = None,
        sampler: str | None = None,
        seed: int = 0,
        samples: int = 1,
        tta: bool = False,
        save_uncertainty: bool = False,
        save_trajectory: bool = False,
        batch_size: int = 8,
        workers: int = 0,
        on_error: Callable[[LDSegError], None] | None = None,
    ) -> list[Path]:
        """Segment image files and write each mask into ``out_dir``: same stem, on the input's
        exact grid (PNG for rasters; NIfTI, MHA or NRRD with the input's geometry for volumes).
        An :class:`ImageInput` of several channel files (``ldseg.data.inputs.group_channels``)
        is one image, written under its stem with its first file's geometry.

        ``workers`` processes read and preprocess the files (``DataLoader``; 0 reads in this
        process); images of the same preprocessed size are sampled ``batch_size`` at a time,
        each from the noise of ``seed`` exactly as :meth:`predict_array` samples it alone.
        ``samples`` > 1 writes the argmax of the mean of that many samples; ``save_uncertainty``
        (needs ``samples`` > 1) also writes the mean foreground probability and the per-pixel
        SD into ``out_dir/uncertainty``; ``save_trajectory`` writes a picture strip and a GIF of
        the reverse process (sample ``seed``, recorded while segmenting) into
        ``out_dir/trajectory``; ``tta`` averages over test-time flips (see
        :meth:`predict_array`). ``out_dir/prediction.json`` records what was done: the run,
        these options resolved, and every input's mask or error.

        A file that fails with an :class:`LDSegError` is passed to ``on_error`` and skipped, or
        raised without ``on_error``. Returns the written masks' paths in input order. Nothing is
        written when an output would replace an input, a run folder's file or another output
        (``ldseg.runs.guard.check_outputs``).
        """
        sampling = SamplingOptions(steps, sampler, seed, samples, tta)
        options = FileOptions(sampling, save_uncertainty, save_trajectory, batch_size, workers)
        if save_trajectory and self.adapter.trajectory_refusal:
            raise LDSegError(f"--save-trajectory: {self.adapter.trajectory_refusal}")
        if options.problems():
            raise LDSegError("; ".join(options.problems()))
        source = self.describe(sampling)  # refuses a bad sampler, K or --tta before writing
        out_dir = Path(out_dir)
        inputs = [as_input(p) for p in paths]
        planned = planned_outputs(inputs, out_dir, save_uncertainty, save_trajectory)
        check_outputs(planned, [f for item in inputs for f in item.files])
        outcomes: dict[int, Path | LDSegError] = {}

        def failed(index: int, err: LDSegError) -> None:
            outcomes[index] = err
            if on_error is None:
                raise err
            on_error(err)

        files = ImageFiles(inputs, self.adapter, keep_images=save_trajectory)
        read: list[LoadedImage | None] = []  # the files read, in the order segment sees them

        def readable() -> Iterator[NetworkInput]:
            for item in read_files(files, workers):
                if item.error is not None:
                    failed(item.index, item.error)
                    continue
                read.append(item)
                yield item.inputs

        frames = TRAJECTORY_FRAMES if save_trajectory else 0
        for position, _, prediction in self.segment(
            readable(), sampling, batch_size, "size", frames
        ):
            item, read[position] = read[position], None  # its tensors are no longer needed
            try:
                outcomes[item.index] = write_outputs(
                    item, prediction, out_dir, self.config.data.class_names, save_uncertainty
                )
            except LDSegError as err:
                failed(item.index, err)
        write_record(out_dir, source, options, inputs, outcomes)
        return [p for _, p in sorted(outcomes.items()) if isinstance(p, Path)]
