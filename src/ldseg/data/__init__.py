"""Data: reading and writing images and masks, pairing files, datasets and transforms."""

from ldseg.data.io import (
    IMAGE_DIRS,
    MASK_DIRS,
    MASK_SUFFIXES,
    RASTER_SUFFIXES,
    VOLUME_SUFFIXES,
    Pair,
    file_stem,
    find_pairs,
    is_image_file,
    is_volume,
    list_images,
    list_masks,
    pair_files,
    read_image,
    read_mask,
    write_mask,
)

__all__ = [
    "IMAGE_DIRS",
    "MASK_DIRS",
    "MASK_SUFFIXES",
    "RASTER_SUFFIXES",
    "VOLUME_SUFFIXES",
    "Pair",
    "file_stem",
    "find_pairs",
    "is_image_file",
    "is_volume",
    "list_images",
    "list_masks",
    "pair_files",
    "read_image",
    "read_mask",
    "write_mask",
]
