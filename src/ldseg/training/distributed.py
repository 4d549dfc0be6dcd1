"""Data-parallel training over the processes ``torchrun`` starts (torch.distributed, DDP).

``torchrun --nproc_per_node N -m ldseg train ...`` sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``; each process then trains on its share of every epoch (``DistributedSampler``)
and DDP averages the gradients, so all processes hold the same weights. Batch norm statistics
stay per process, as DDP's default. Backend: nccl on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ldseg.errors import LDSegError
from ldseg.utils import usable_cpus

LAZY_READERS = 2  # reader processes on CPUs for cases read from disk when used


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in training; a lone process is rank 0 of 1."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 validates and writes the run folder."""
        return self.rank == 0

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` over all processes."""
        if self.world_size == 1:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.world_size

    def main_value(self, value: float) -> float:
        """Rank 0's ``value`` on every process; the others wait for rank 0 here."""
        if self.world_size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def wrap(self, model: nn.Module, find_unused: bool = False) -> nn.Module:
        """``model`` in DDP when there are several processes (``find_unused``: some
        parameters get no gradient)."""
        if self.world_size == 1:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(
            model, device_ids=device_ids, find_unused_parameters=find_unused
        )


def loader_workers(group: ProcessGroup, lazy: bool = False) -> int:
    """Reader processes per training process: none on CPUs, whose cores all compute, unless the
    cases are read from disk when used (``lazy``: up to ``LAZY_READERS``); on a GPU up to 8,
    sharing the machine's cores with the other processes (augmentation is seeded per case, so
    the count does not change the result)."""
    if group.device.type != "cuda":
        return min(LAZY_READERS, usable_cpus()) if lazy else 0
    return max(0, min(8, usable_cpus() // group.world_size - 1))


@contextmanager
def process_group() -> Iterator[ProcessGroup]:
    """The process group ``torchrun`` describes in the environment, or a lone process.

    Each process uses GPU ``LOCAL_RANK`` when there are GPUs, else the CPU.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        yield ProcessGroup(0, 1, device)
        return
    if cuda and local_rank >= torch.cuda.device_count():
        raise LDSegError(
            f"LOCAL_RANK {local_rank}: this node has {torch.cuda.device_count()} GPU(s); "
            "start at most one process per GPU (torchrun --nproc_per_node)"
        )
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield ProcessGroup(dist.get_rank(), world_size, device)
    finally:
        dist.destroy_process_group()
