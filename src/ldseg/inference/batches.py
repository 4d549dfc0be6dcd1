"""Which network inputs share a model call.

Every image is sampled from the noise of its own seed, so batching changes the speed, not the
noise; but convolutions of different batch compositions round differently in the last bits,
so each caller keeps the composition its results were defined with:

- ``size``: rows of one shape from different cases, up to ``batch_size`` (``predict``, the
  experiments, cross-validation); a case of several rows (a volume's slices) fills batches of
  its own, so its prediction does not depend on the files read beside it;
- ``consecutive``: consecutive rows of one shape, up to ``batch_size``, whichever case they
  belong to (validation during training and the post-processing decision, which hold the
  samples in order and never all at once);
- ``case``: each case's rows alone (one case at a time, to time it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from ldseg.data.adapter import NetworkInput

Batching = Literal["size", "consecutive", "case"]
BATCHINGS = ("size", "consecutive", "case")

# A row of a batch: the case's position in the stream, the case, and the row's index in it.
Row = tuple[int, NetworkInput, int]


def row_batches(
    cases: Iterable[NetworkInput], batch_size: int, batching: Batching
) -> Iterator[list[Row]]:
    """The rows of ``cases`` (read one case at a time) in batches of one row shape and at most
    ``batch_size`` rows, composed as ``batching`` says (see the module docstring)."""
    if batching not in BATCHINGS:
        raise ValueError(f"batching must be one of {BATCHINGS}, got {batching!r}")
    open_batches: dict[tuple, list[Row]] = {}
    for position, case in enumerate(cases):
        alone = batching == "case" or (batching == "size" and len(case.images) > 1)
        key = (position if alone else None, tuple(case.images.shape[1:]))
        if batching == "consecutive" and key not in open_batches:
            yield from open_batches.values()
            open_batches.clear()
        for row in range(len(case.images)):
            batch = open_batches.setdefault(key, [])
            batch.append((position, case, row))
            if len(batch) == batch_size:
                yield open_batches.pop(key)
        if alone and key in open_batches:
            yield open_batches.pop(key)
    yield from open_batches.values()
