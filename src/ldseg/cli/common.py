"""What several commands share: option groups, list parsing, the device, the command line."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from typing import TYPE_CHECKING

from ldseg.diffusion import SAMPLER_NAMES
from ldseg.errors import LDSegError
from ldseg.runs import WEIGHTS

if TYPE_CHECKING:
    import torch


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: ``ldseg train: error: argument --epochs:
    must be at least 1, got '0' (see ldseg train --help)``, exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_run_options(parser: argparse.ArgumentParser, sampler_help: str) -> None:
    """``--weights`` and ``--sampler``, the options of every command that loads a run."""
    parser.add_argument("--weights", default="best", choices=WEIGHTS)
    parser.add_argument("--sampler", choices=SAMPLER_NAMES, help=sampler_help)


def at_least(low: float, kind: type = int, high: float | None = None):
    """An argparse type: a finite ``kind`` number >= ``low`` (and <= ``high``); argparse then
    refuses anything else in one line naming the option."""
    spelled = "an integer" if kind is int else "a number"
    bounds = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
    bounds = "finite" if low == -math.inf and high is None else bounds

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {spelled}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text!r}")
        return value

    parse.__name__ = f"{spelled} {bounds}"  # argparse names the type in its messages
    return parse


def above(low: float):
    """An argparse type: a finite number > ``low``."""

    def parse(text: str) -> float:
        value = at_least(-math.inf, float)(text)
        if not value > low:
            raise argparse.ArgumentTypeError(f"must be above {low:g}, got {text!r}")
        return value

    return parse


positive_int = at_least(1)  # counts: epochs, batch size, steps, samples, repeats
count = at_least(0)  # counts that may be 0: workers, seeds
classes = at_least(2)  # number of classes, background included
probability = at_least(0, float, 1)
positive = above(0)  # learning rate
non_negative = at_least(0, float)  # minutes, noise SDs
finite = at_least(-math.inf, float)  # a threshold


def comma_list(kind):
    """An argparse type: ``"1,2,5"`` -> ``[1, 2, 5]``, each item parsed by ``kind`` (a type or
    one of the bounded number types above)."""

    def parse(text: str) -> list:
        items = [item for item in text.split(",") if item.strip()]
        try:
            values = [kind(item) for item in items]
        except argparse.ArgumentTypeError as err:
            raise argparse.ArgumentTypeError(f"{err} (in the list {text!r})") from None
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list: {text!r}")
        return values

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
