"""Built-in synthetic cardiac segmentation data (2D images, 3D volumes) for the demo and tests.

Each case is a two-chamber-like view: a bright blood-pool ellipse (class 1, "LV cavity"), a
myocardial ring of intermediate intensity around it (class 2) and a second blood pool
(class 3, "LA") that cuts into the ring at the base, all randomly placed, sized, rotated and
stretched. Class intensities, a smooth textured background with bright distractor blobs,
blur, speckle, Gaussian noise and a global gain and bias vary per case, so the classes'
intensity ranges overlap and the task needs shape and context, not a threshold. The anatomy
is drawn whatever num_classes is: with 2 classes only the cavity is labelled, with 3 the
cavity and the ring.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

BACKGROUND, LV, MYOCARDIUM, LA = 0, 1, 2, 3
MIN_SIZE = 4  # volumes may have few thick slices
NIFTI_AFFINE = np.array(
    [[1.0, 0.0, 0.0, -40.0], [0.0, 1.0, 0.0, -30.0], [0.0, 0.0, 2.0, 10.0], [0.0, 0.0, 0.0, 1.0]]
)  # 1 x 1 x 2 mm voxels, off-origin, so readers that drop the affine are caught


def _gaussian_filter(array: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a standard deviation of ``sigma`` pixels on every axis (FFT, periodic)."""
    spectrum = np.fft.rfftn(array)
    frequencies = [np.fft.fftfreq(n) for n in array.shape[:-1]] + [np.fft.rfftfreq(array.shape[-1])]
    squared = sum(np.meshgrid(*[f**2 for f in frequencies], indexing="ij", sparse=True))
    transfer = np.exp(-2 * np.pi**2 * sigma**2 * squared)
    return np.fft.irfftn(spectrum * transfer, s=array.shape, axes=range(array.ndim))


def _smooth_field(rng: np.random.Generator, size: tuple[int, ...], sigma: float) -> np.ndarray:
    """Low-frequency random field with zero mean and unit standard deviation."""
    field = _gaussian_filter(rng.standard_normal(size), sigma)
    return (field - field.mean()) / field.std()


def _rotation(rng: np.random.Generator, ndim: int) -> np.ndarray:
    """Uniformly random rotation; its columns are the local axes (column 0: the long axis)."""
    q, r = np.linalg.qr(rng.standard_normal((ndim, ndim)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, -1] = -q[:, -1]
    return q


def _ellipsoid(
    coords: np.ndarray, center: np.ndarray, rotation: np.ndarray, radii: np.ndarray
) -> np.ndarray:
    """Boolean mask of the rotated ellipsoid; coords is (ndim, *size)."""
    offset = coords - center.reshape(-1, *([1] * (coords.ndim - 1)))
    local = np.einsum("ij,i...->j...", rotation, offset)
    return np.einsum("j...,j->...", local**2, 1 / radii**2) <= 1


def _dilate(region: np.ndarray) -> np.ndarray:
    """One-voxel dilation with face connectivity."""
    grown = region.copy()
    for axis in range(region.ndim):
        head = (slice(None),) * axis + (slice(None, -1),)
        tail = (slice(None),) * axis + (slice(1, None),)
        grown[tail] |= region[head]
        grown[head] |= region[tail]
    return grown


def _anatomy(rng: np.random.Generator, coords: np.ndarray) -> np.ndarray:
    """Four-class label map; coordinates run over [-1, 1] on every axis."""
    ndim = coords.shape[0]
    rotation = _rotation(rng, ndim)
    short = rng.uniform(0.2, 0.28)
    lv_radii = np.array([short * rng.uniform(1.3, 1.7), short, *([short] * (ndim - 2))])
    lv_radii[1:] *= rng.uniform(0.85, 1.15, ndim - 1)
    thickness = rng.uniform(0.10, 0.14)  # wall about half the cavity radius, as in echo
    la_radii = short * rng.uniform(0.7, 1.0, ndim)
    # The LA sits beyond the base, along the long axis, and cuts into the ring.
    la_distance = lv_radii[0] + thickness + la_radii[0] * rng.uniform(-0.2, 0.3)
    la_offset = -la_distance * rotation[:, 0] + short * rng.uniform(-0.3, 0.3) * rotation[:, 1]
    # Centre the whole heart (apex to far LA wall) near the image centre.
    apex = lv_radii[0] + thickness
    mid = (apex - la_distance - la_radii[0]) / 2 * rotation[:, 0]
    center = rng.uniform(-0.1, 0.1, ndim) - mid
    labels = np.zeros(coords.shape[1:], dtype=np.int64)
    cavity = _ellipsoid(coords, center, rotation, lv_radii)
    # The one-voxel dilation keeps the ring closed where it is thinner than a voxel.
    ring = _ellipsoid(coords, center, rotation, lv_radii + thickness) | _dilate(cavity)
    labels[ring] = MYOCARDIUM
    labels[cavity] = LV
    la = _ellipsoid(coords, center + la_offset, rotation, la_radii) & (labels != LV)
    labels[la] = LA
    return labels


def _render(rng: np.random.Generator, coords: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Noisy image in [0, 1] for a four-class label map."""
    size = labels.shape
    scale = min(size)
    image = rng.uniform(0.05, 0.18) + 0.05 * _smooth_field(rng, size, scale / 8)
    for _ in range(rng.integers(1, 4)):  # bright distractors (other chambers, vessels, fat)
        radii = rng.uniform(0.06, 0.25, len(size))
        blob = _ellipsoid(
            coords, rng.uniform(-0.9, 0.9, len(size)), _rotation(rng, len(size)), radii
        )
        image[blob & (labels == BACKGROUND)] = rng.uniform(0.25, 0.75)
    lv_level = rng.uniform(0.65, 0.85)
    levels = {
        MYOCARDIUM: rng.uniform(0.35, 0.5),
        LV: lv_level,
        LA: lv_level + rng.uniform(-0.15, 0.05),
    }
    for label, level in levels.items():
        image[labels == label] = level
    image *= 1 + 0.12 * _smooth_field(rng, size, scale / 32)  # tissue texture
    image = _gaussian_filter(image, rng.uniform(0.4, 0.9))  # partial-volume blur
    speckle_shape = rng.uniform(4, 12)
    speckle = _gaussian_filter(rng.gamma(speckle_shape, 1 / speckle_shape, size), 0.6)
    image = image * speckle / speckle.mean() + rng.normal(0, rng.uniform(0.02, 0.06), size)
    image = image * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)
    return np.clip(image, 0, 1)


def synthetic_case(
    rng: np.random.Generator, size: tuple[int, ...], num_classes: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """One random case: image float32 (1, *size) in [0, 1], mask int64 (*size) in 0..C-1.

    ``size`` has 2 entries (an image) or 3 (a volume, ellipsoids), each at least 4.
    """
    size = tuple(size)
    valid = all(isinstance(n, int | np.integer) and n >= MIN_SIZE for n in size)
    if len(size) not in (2, 3) or not valid:
        raise ValueError(f"size must be 2 or 3 integers >= {MIN_SIZE}, got {size}")
    if num_classes not in (2, 3, 4):
        raise ValueError(f"num_classes must be 2, 3 or 4, got {num_classes}")
    coords = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in size], indexing="ij"))
    labels = _anatomy(rng, coords)
    image = _render(rng, coords, labels)
    mask = np.where(labels < num_classes, labels, BACKGROUND)
    return image[None].astype(np.float32), mask


def write_synthetic_dataset(
    out_dir: Path, num_cases: int, size: tuple[int, ...], num_classes: int = 4, seed: int = 0
) -> Path:
    """Write ``images/case_000.png`` and ``masks/case_000.png`` (2D) or ``.nii.gz`` (3D).

    PNGs are 8-bit grey, the mask holding class indices; NIfTI images are float32 and masks
    uint8, with 1 x 1 x 2 mm voxels. Case i depends only on (seed, i). Returns ``out_dir``.
    """
    if num_cases < 1:
        raise ValueError(f"num_cases must be >= 1, got {num_cases}")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(num_cases - 1)))
    for index in range(num_cases):
        image, mask = synthetic_case(np.random.default_rng([seed, index]), size, num_classes)
        name = f"case_{index:0{digits}d}"
        if len(size) == 2:
            grey = np.round(image[0] * 255).astype(np.uint8)
            Image.fromarray(grey).save(out_dir / "images" / f"{name}.png")
            Image.fromarray(mask.astype(np.uint8)).save(out_dir / "masks" / f"{name}.png")
        else:
            nib.save(nib.Nifti1Image(image[0], NIFTI_AFFINE), out_dir / "images" / f"{name}.nii.gz")
            nib.save(
                nib.Nifti1Image(mask.astype(np.uint8), NIFTI_AFFINE),
                out_dir / "masks" / f"{name}.nii.gz",
            )
    return out_dir
