"""Weights as ``.safetensors``, written atomically and read without unpickling anything."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ldseg.errors import RunFolderError
from ldseg.models import Segmenter
from ldseg.utils import atomic_write

WEIGHTS_SUFFIX = ".safetensors"
SHOWN = 3  # tensors named in a mismatch message, per kind


def save_weights(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write tensors to ``path`` atomically (temporary file, then rename)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file; any other format (such as a pickle) is refused."""
    path = Path(path)
    if path.suffix != WEIGHTS_SUFFIX:
        raise RunFolderError(f"{path}: weights must be a {WEIGHTS_SUFFIX} file, refusing to load")
    if not path.is_file():
        raise RunFolderError(f"{path}: weights file not found")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise RunFolderError(f"{path}: not a valid safetensors file ({err})") from None


def model_tensors(model: nn.Module, ema: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """The model's state under ``model.``; the EMA copy of its ``ema_target`` under ``ema.``."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors |= {f"ema.{k}": v for k, v in ema.state_dict().items()}
    return tensors


def load_model_tensors(
    model: Segmenter, tensors: dict[str, torch.Tensor], path: Path, use_ema: bool = True
) -> None:
    """Load ``model.`` tensors into ``model``; with ``use_ema`` its ``ema_target`` submodule
    (the denoiser of LDSeg) takes the EMA copy."""
    state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    ema = {k[len("ema.") :]: v for k, v in tensors.items() if k.startswith("ema.")}
    target = model.ema_target
    if use_ema and ema and target:
        state |= {f"{target}.{k}": v for k, v in ema.items()}
    problems = state_dict_differences(model.state_dict(), state)
    if problems:
        raise RunFolderError(
            f"{path}: weights do not match the configured model ({problems}); was config.json "
            "changed after training?"
        )
    model.load_state_dict(state, strict=True)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def state_dict_differences(
    expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]
) -> str:
    """One line: the layers whose shapes differ (file vs model), the tensors missing from the
    file and those the model does not have; empty when they match."""
    shapes = [
        f"{k} {list(found[k].shape)} in the file, {list(v.shape)} in the model"
        for k, v in expected.items()
        if k in found and found[k].shape != v.shape
    ]
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} tensor(s) differ in shape: {_listed(shapes)}")
    if missing:
        parts.append(f"{len(missing)} missing from the file: {_listed(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} not in the model: {_listed(unexpected)}")
    return "; ".join(parts)
