"""Pictures of the reverse process: the latent at each step and its decoded mask on the image.

Written per case by ``ldseg predict --save-trajectory``: ``<stem>.png``, a strip of at most
``STRIP_FRAMES`` evenly spaced steps (latent above, decoded mask below), and ``<stem>.gif``, an
animation over every kept step (see :class:`ldseg.inference.Trajectory`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ldseg.evaluation.overlay import class_legend, draw_overlay, middle_slice, save_figure
from ldseg.inference.results import Trajectory
from ldseg.utils import atomic_write

STRIP_FRAMES = 8
LATENT_RANGE = 3.0  # the latent is standardised: show -3..3 standard deviations
FRAME_MS, LAST_FRAME_MS = 250, 1500


def _latent_panel(ax, image: np.ndarray, latent: np.ndarray, title: str):
    """The latent as a translucent heat map stretched over the image (3D: middle slices)."""
    if image.ndim == 4:
        image, latent = middle_slice(image), middle_slice(latent)
    height, width = image.shape[1:]
    draw_overlay(ax, image, np.zeros((height, width), np.uint8), None, title)
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    style = {"cmap": "RdBu_r", "alpha": 0.6, "interpolation": "nearest"}
    return ax.imshow(latent, vmin=-LATENT_RANGE, vmax=LATENT_RANGE, extent=extent, **style)


def save_trajectory_figures(
    image: np.ndarray,
    trajectory: Trajectory,
    out_dir: str | Path,
    stem: str,
    class_names: Sequence[str] | None = None,
) -> tuple[Path, Path]:
    """Write the strip ``out_dir/<stem>.png`` and the animation ``out_dir/<stem>.gif``."""
    out_dir = Path(out_dir)
    image = np.asarray(image, dtype=np.float32)
    image = image[None] if image.ndim == trajectory.masks[0].ndim else image
    count = len(trajectory.latents)
    frames = np.unique(np.linspace(0, count - 1, min(STRIP_FRAMES, count)).round().astype(int))
    labels = [f"t = {t}" for t in trajectory.timesteps]
    labels[0] += " (noise)"
    labels[-1] += " (final)" if trajectory.timesteps[-1] == 0 else ""

    fig = Figure(figsize=(2.2 * len(frames) + 0.8, 4.9), layout="constrained")
    axes = fig.subplots(2, len(frames), squeeze=False)
    for column, i in zip(axes.T, frames, strict=True):
        heat = _latent_panel(column[0], image, trajectory.latents[i], labels[i])
        draw_overlay(column[1], image, trajectory.masks[i], None, "decoded mask")
    fig.colorbar(heat, ax=axes[0].tolist(), label="latent value", fraction=0.02)
    fig.suptitle(f"{stem}: reverse process, latent (top) and its decoded mask (bottom)")
    class_legend(fig, class_names)
    strip = save_figure(fig, out_dir / f"{stem}.png", dpi=90)

    pictures = []
    for i in range(count):
        frame = Figure(figsize=(6.4, 3.4), layout="constrained")
        left, right = frame.subplots(1, 2)
        _latent_panel(left, image, trajectory.latents[i], f"latent, {labels[i]}")
        draw_overlay(right, image, trajectory.masks[i], None, "decoded mask")
        class_legend(frame, class_names)
        pictures.append(_render(frame))
    durations = [FRAME_MS] * (count - 1) + [LAST_FRAME_MS]

    def save_gif(tmp: Path) -> None:
        first, *rest = pictures
        first.save(tmp, format="GIF", save_all=True, append_images=rest, duration=durations, loop=0)

    return strip, atomic_write(out_dir / f"{stem}.gif", save_gif)


def _render(fig: Figure) -> Image.Image:
    """A figure as a palette image for the GIF."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB").quantize(colors=255)
