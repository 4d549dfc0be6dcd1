"""Data: file formats, reading and writing images and masks, pairing files and dataset layouts,
and the one path from a pair to the tensors a network sees (``cases``, ``transforms``)."""

from ldseg.data.cases import Case, dataset_cases, load_cases, read_case, read_cases, read_truth
from ldseg.data.formats import (
    IMAGE_DIRS,
    MASK_DIRS,
    MASK_SUFFIXES,
    RASTER_SUFFIXES,
    VOLUME_SUFFIXES,
    file_stem,
    is_image_file,
    is_volume,
)
from ldseg.data.layouts import discover, find_pairs
from ldseg.data.pairing import Pair, list_images, list_masks, pair_files
from ldseg.data.readers import read_image, read_mask
from ldseg.data.writers import write_mask

__all__ = [
    "IMAGE_DIRS",
    "MASK_DIRS",
    "MASK_SUFFIXES",
    "RASTER_SUFFIXES",
    "VOLUME_SUFFIXES",
    "Case",
    "Pair",
    "dataset_cases",
    "discover",
    "file_stem",
    "find_pairs",
    "is_image_file",
    "is_volume",
    "list_images",
    "list_masks",
    "load_cases",
    "pair_files",
    "read_case",
    "read_cases",
    "read_image",
    "read_mask",
    "read_truth",
    "write_mask",
]
