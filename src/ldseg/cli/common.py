"""What several commands share: option groups, list parsing, the device, the command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING

from ldseg.diffusion import SAMPLER_NAMES
from ldseg.errors import LDSegError
from ldseg.runs import WEIGHTS

if TYPE_CHECKING:
    import torch


def add_run_options(parser: argparse.ArgumentParser, sampler_help: str) -> None:
    """``--weights`` and ``--sampler``, the options of every command that loads a run."""
    parser.add_argument("--weights", default="best", choices=WEIGHTS)
    parser.add_argument("--sampler", choices=SAMPLER_NAMES, help=sampler_help)


def comma_list(kind: type):
    """An argparse type: ``"1,2,5"`` -> ``[1, 2, 5]``."""

    def parse(text: str) -> list:
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {text!r}") from None

    return parse


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, for the records the commands write."""
    return shlex.join(["ldseg", *getattr(args, "argv", sys.argv[1:])])


def device(name: str | None) -> torch.device:
    """The ``--device`` asked for (cuda when available by default), checked before any work."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(name)
    except RuntimeError:
        raise LDSegError(f"--device {name}: not a torch device (cpu, cuda, cuda:1, ...)") from None
    if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
        raise LDSegError(f"--device {name}: no such CUDA device on this machine")
    return chosen
