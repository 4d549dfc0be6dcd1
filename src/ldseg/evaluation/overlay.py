"""Figures of masks: an image with the prediction as a translucent fill and the truth as
contours, one colour per class, with a legend; and saving any figure atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ldseg.utils import atomic_write

# Okabe-Ito colour-blind-friendly palette (black left out); class c >= 1 gets COLOURS[(c-1) % 7]
COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
FILL_ALPHA = 0.45

OverlayItem = tuple[np.ndarray, np.ndarray, np.ndarray | None, str | None]


def class_colour(c: int) -> str:
    """Display colour of foreground class ``c`` (>= 1)."""
    return COLOURS[(c - 1) % len(COLOURS)]


def middle_slice(array: np.ndarray) -> np.ndarray:
    """The middle slice along the last axis."""
    return array[..., array.shape[-1] // 2]


def _display_image(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) grey or (H, W, 3) RGB in [0, 1], rescaled by 1st/99th percentiles."""
    shown = np.moveaxis(image[:3], 0, -1) if image.shape[0] >= 3 else image[0]
    low, high = np.percentile(shown, (1, 99))
    return np.clip((shown - low) / (high - low), 0, 1) if high > low else np.zeros_like(shown)


def draw_overlay(
    ax, image: np.ndarray, pred: np.ndarray, truth: np.ndarray | None, title: str | None
) -> None:
    """Draw one panel; 3D inputs ``(C, X, Y, Z)`` show their middle slice along the last axis."""
    image, pred = np.asarray(image, dtype=np.float32), np.asarray(pred)
    if image.ndim == 4:
        image, pred = middle_slice(image), middle_slice(pred)
        truth = None if truth is None else middle_slice(np.asarray(truth))
    if image.ndim != 3 or pred.shape != image.shape[1:]:
        raise ValueError(f"image {image.shape} and prediction {pred.shape} do not match")
    if truth is not None and truth.shape != pred.shape:
        raise ValueError(f"truth {truth.shape} and prediction {pred.shape} do not match")
    ax.imshow(_display_image(image), cmap="gray", interpolation="nearest")
    fill = np.zeros((*pred.shape, 4))
    for c in np.unique(pred[pred > 0]):
        fill[pred == c] = to_rgba(class_colour(int(c)), FILL_ALPHA)
    ax.imshow(fill, interpolation="nearest")
    for c in [] if truth is None else np.unique(truth[truth > 0]):
        ax.contour(truth == c, levels=[0.5], colors=[class_colour(int(c))], linewidths=1.2)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def class_legend(fig: Figure, class_names: Sequence[str] | None) -> None:
    """A legend of the foreground classes' colours below the figure (none without names)."""
    if class_names:
        handles = [
            Patch(color=class_colour(c), label=name) for c, name in enumerate(class_names) if c
        ]
        ncol = min(len(handles), 6)
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol, frameon=False)


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Render a matplotlib figure (Agg, no display) to a PNG atomically."""
    FigureCanvasAgg(fig)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


def save_overlay(
    image: np.ndarray,
    pred: np.ndarray,
    out_path: str | Path,
    truth: np.ndarray | None = None,
    title: str | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """PNG of ``image`` (C, H, W) with ``pred`` filled and ``truth`` outlined, one colour a class.

    ``class_names`` (background first) adds a legend.
    """
    fig = Figure(figsize=(5, 5.4 if class_names else 5), layout="constrained")
    draw_overlay(fig.add_subplot(), image, pred, truth, title)
    class_legend(fig, class_names)
    return save_figure(fig, out_path, dpi=100)


def save_overlay_grid(
    items: Sequence[OverlayItem],
    out_path: str | Path,
    ncols: int = 4,
    class_names: Sequence[str] | None = None,
) -> Path:
    """One PNG, a panel per ``(image, pred, truth, title)`` item (truth and title may be None)."""
    if not items:
        raise ValueError("no items to draw")
    ncols = min(ncols, len(items))
    nrows = -(-len(items) // ncols)
    fig = Figure(figsize=(3 * ncols, 3 * nrows + (0.4 if class_names else 0)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (image, pred, truth, title) in zip(axes, items, strict=False):
        draw_overlay(ax, image, pred, truth, title)
    for ax in axes[len(items) :]:
        ax.set_axis_off()
    class_legend(fig, class_names)
    return save_figure(fig, out_path, dpi=100)
