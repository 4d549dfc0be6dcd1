"""Export a run to one TorchScript or ONNX file that maps raw images to masks.

The exported graph takes images ``(B, in_channels, *size)`` as float32 at the run's training
size with raw intensities, normalises them as the run does (``normalize_batch``, the run's own
normalisation in operations that trace), runs K DDIM steps (timesteps and
alphas baked in as constants) from the fixed initial noise of seed 0, and returns
``(mask, probabilities)``: class indices ``(B, *size)`` (int64) and class probabilities
``(B, num_classes, *size)``. For an image already at the training size with the model's channel
count these are :class:`Predictor`'s mask and probabilities for seed 0 and the DDIM sampler.
Reading files, channel conversion and resizing to and from the training size stay outside.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ldseg.data.transforms import normalize_batch
from ldseg.diffusion import DDIM
from ldseg.errors import LDSegError, RunFolderError
from ldseg.inference.pipeline import initial_noise
from ldseg.inference.predictor import Predictor
from ldseg.utils import atomic_write

EXPORT_FORMATS = ("torchscript", "onnx")
EXPORT_SEED = 0  # the initial noise baked into an exported LDSeg
TOLERANCE = 1e-4  # largest probability difference an export may show against PyTorch


def check_exportable(predictor: Predictor, run: str | Path = "run") -> None:
    """Raise :class:`RunFolderError` unless ``predictor``'s run can be exported."""
    model, data = predictor.model, predictor.config.data
    if not model.exportable:
        raise RunFolderError(
            f"{run}: a {predictor.config.model.name!r} model cannot be exported; export "
            "supports ldseg runs and the resunet/unet baselines"
        )
    if not data.resize:
        raise RunFolderError(
            f"{run}: the run predicts with sliding windows (data.resize is false); "
            "only runs that resize to a fixed training size can be exported"
        )


class ExportedSegmenter(nn.Module):
    """A run's intensity normalisation, K-step DDIM sampling from fixed noise and the argmax.

    Args:
        predictor: the loaded run (:meth:`Predictor.from_run`).
        steps: DDIM steps K (default: the run's; unused by a deterministic baseline).
        run: the run folder, named in errors.
    """

    def __init__(
        self, predictor: Predictor, steps: int | None = None, run: str | Path = "run"
    ) -> None:
        super().__init__()
        check_exportable(predictor, run)
        self.model = predictor.model.eval()
        self.intensity = predictor.config.data.intensity
        self.size = tuple(predictor.config.data.size)
        self.in_channels = predictor.config.model.in_channels
        self.sampler = predictor.pipeline(steps, DDIM).sampler
        generator = torch.Generator(device=predictor.device).manual_seed(EXPORT_SEED)
        self.register_buffer("noise", initial_noise(self.model, self.size, generator))
        self.eval()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask ``(B, *size)`` and probabilities ``(B, C, *size)`` of raw images."""
        noise = None
        if self.noise is not None:
            noise = self.noise.expand(images.shape[0], *self.noise.shape[1:])
        probs = self.model.sample(
            normalize_batch(images, self.intensity), self.sampler, noise=noise
        )
        return probs.argmax(1), probs


def example_images(module: ExportedSegmenter, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Random raw images ``(batch, in_channels, *size)`` in 0..255 for tracing and checks."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch, module.in_channels, *module.size), generator=generator) * 255


def run_exported(path: str | Path, fmt: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Load an exported file (torch.jit or ONNX Runtime) and return its (mask, probabilities)."""
    if fmt == "torchscript":
        module = torch.jit.load(str(path), map_location="cpu")
        with torch.no_grad():
            mask, probs = module(torch.as_tensor(images))
        return mask.numpy(), probs.numpy()
    session = _onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mask, probs = session.run(None, {session.get_inputs()[0].name: images})
    return mask, probs


def _onnxruntime():
    """The onnxruntime module; exporting to ONNX also needs onnx (both in ``ldseg[export]``)."""
    try:
        import onnx  # noqa: F401  (the exporter serialises with it)
        import onnxruntime
    except ImportError:
        raise LDSegError(
            "ONNX export needs onnx and onnxruntime: pip install 'ldseg[export]'"
        ) from None
    return onnxruntime


def _write(module: ExportedSegmenter, fmt: str, path: Path) -> None:
    """Trace ``module`` and save it. ONNX uses the TorchScript-based exporter: the unrolled
    sampling loop traces as it does for TorchScript, and it exports several times faster than
    the ``torch.export`` one (about 5 s against 30 s for a tiny run) without onnxscript."""
    images = example_images(module)
    with warnings.catch_warnings(), torch.no_grad():
        # Sizes and timesteps become constants on purpose; the result is checked afterwards.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        if fmt == "torchscript":
            torch.jit.trace(module, images, check_trace=False).save(str(path))
            return
        torch.onnx.export(
            module,
            (images,),
            str(path),
            dynamo=False,
            input_names=["images"],
            output_names=["mask", "probabilities"],
            dynamic_axes={name: {0: "batch"} for name in ("images", "mask", "probabilities")},
        )


def export_run(
    predictor: Predictor,
    fmt: str,
    out: str | Path,
    steps: int | None = None,
    run: str | Path = "run",
) -> float:
    """Write the run of ``predictor`` (folder ``run``) as one ``fmt`` file at ``out``,
    atomically, and return the largest probability difference to PyTorch on random images,
    which must stay within ``TOLERANCE`` (else nothing is written)."""
    out = Path(out)
    if fmt not in EXPORT_FORMATS:
        raise LDSegError(
            f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}"
        )
    if out.is_dir():
        raise LDSegError(f"{out}: is a folder; give the file to write")
    if fmt == "onnx":
        _onnxruntime()  # before the slow part
    module = ExportedSegmenter(predictor, steps, run)
    check = example_images(module, batch=3, seed=1)  # another batch size than the traced one
    with torch.no_grad():
        _, expected = module(check)
    difference = math.inf

    def write_and_check(tmp: Path) -> None:
        nonlocal difference
        _write(module, fmt, tmp)
        _, probs = run_exported(tmp, fmt, check.numpy())
        difference = float(np.abs(probs - expected.numpy()).max())
        if not difference <= TOLERANCE:
            raise LDSegError(
                f"{out}: the exported {fmt} model differs from PyTorch by {difference:.2g} "
                f"in probability (tolerance {TOLERANCE:g}); nothing written"
            )

    atomic_write(out, write_and_check)
    return difference
