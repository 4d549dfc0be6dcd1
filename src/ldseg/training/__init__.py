"""Training: ``train`` into a new run folder, ``resume`` an interrupted one (data-parallel under
``torchrun``), with EMA, validation and seeded randomness."""

from ldseg.training.trainer import Trainer, TrainResult, resume, train

__all__ = ["TrainResult", "Trainer", "resume", "train"]
