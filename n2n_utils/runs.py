"""What a training run is: its options (`TrainConfig`), which of them change what it computes,
the one digest that names it (`config_digest`), and how its checkpoint file is read.

A run is identified by its options and by its data's `meta` (n2n_utils.data: how the data
were made). Three things use that identity, each leaving out what may differ between runs it
treats as one:
- a checkpoint's file name (`checkpoint_name`) leaves out RESUMABLE_CHANGES, so that a
  longer run resumes from a shorter one;
- a sweep's rows (n2n_utils.sweeps) leave out the seed, a column of its own, and the swept
  option, a column too;
- resuming (n2n_utils.training) refuses a checkpoint whose options differ in anything else.

Loading weights needs only this module, not the training engine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import torch

from .augment import check_augmentations
from .config import resolve_device

CHOICES = {
    "loss": ("mse", "l1"),
    "target": ("noise2noise", "noise2clean"),
    "lr_schedule": ("constant", "cosine"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "final_activation": ("relu", "linear"),
}


@dataclass
class TrainConfig:
    """The options of one training run, plain values; `from_dict` refuses unknown keys."""

    epochs: int = 10
    lr: float = 8e-4                       # Adam; the report's choice
    batch_size: int = 8                    # the report's choice
    loss: Literal["mse", "l1"] = "mse"     # l1 where the median is the right target (impulse, text)
    target: Literal["noise2noise", "noise2clean"] = "noise2noise"
    augment: tuple[str, ...] = ("dihedral",)  # see n2n_utils.augment
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # autocast dtype; auto = bf16 where the device computes it natively (benchmarks/: ~1.35x at
    # batch 8 on an AVX512-BF16 CPU, PSNR within noise of fp32), else fp32. fp16 on CUDA only.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: bool = True
    model: str = "resunet"
    final_activation: Literal["relu", "linear"] = "relu"  # Table I ends in a ReLU
    seed: int = 0
    device: str = "auto"                   # auto: cuda > mps > cpu
    eval_batch_size: int = 500
    eval_every: int = 1                    # validate every k epochs (always after the last)
    progress: bool = True

    def __post_init__(self):
        self.augment = tuple(self.augment)
        check_augmentations(self.augment)
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {allowed}")
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0 or self.eval_every < 1:
            raise ValueError(f"need epochs >= 0, batch_size >= 1, lr > 0; got {self}")

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a dict, refusing keys that are not fields (a typo must not pass silently)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


# Options that never change what a run computes: where it runs, what it prints, how many
# validation images go through the network at once.
NOT_A_RESULT = frozenset({"device", "progress", "eval_batch_size"})
# A checkpoint resumes with these changed as well: more epochs continue the run (not under a
# cosine schedule, which spans all the epochs; training checks that), and validating more or
# less often changes no weight.
RESUMABLE_CHANGES = NOT_A_RESULT | {"epochs", "eval_every"}


def config_digest(config: TrainConfig, data_meta: dict, leave_out: set[str] | frozenset[str] = frozenset(),
                  length: int = 12) -> str:
    """The hex digest (`length` characters) of a run: its options but NOT_A_RESULT and
    `leave_out`, and its data's meta. The same run on the same data gives the same digest."""
    options = {k: v for k, v in config.to_dict().items() if k not in NOT_A_RESULT | set(leave_out)}
    blob = json.dumps({"config": options, "data": data_meta}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:length]


def checkpoint_name(config: TrainConfig, data_meta: dict, prefix: str = "resunet") -> str:
    """A file name that changes whenever the run would: the same config on the same data
    resumes, anything else starts a new checkpoint instead of clashing with the old one."""
    return f"{prefix}-{config_digest(config, data_meta, RESUMABLE_CHANGES, length=10)}.pt"


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Read a training checkpoint or a weights file safely (weights_only=True: tensors and plain
    values only, a pickle never runs code); any failure is one ValueError naming the file."""
    try:
        return torch.load(path, map_location=resolve_device(device), weights_only=True)
    except Exception as err:
        first = str(err).splitlines()[0] if str(err) else ""
        raise ValueError(f"{path}: not a readable checkpoint or weights file ({type(err).__name__}: {first})") from err
