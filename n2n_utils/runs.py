"""What a training run is: its options (`TrainConfig`), which of them change what it computes,
the one digest that names it (`config_digest`), and how its checkpoint file is read.

A run is identified by its options and by its data's `meta` (n2n_utils.data: how the data
were made), less the folder of files whose digest the meta holds (`data_identity`). Three
things use that identity, each leaving out what may differ between runs it
treats as one:
- a checkpoint's file name (`checkpoint_name`) leaves out RESUMABLE_CHANGES, so that a
  longer run resumes from a shorter one;
- a sweep's rows (n2n_utils.sweeps) leave out the seed, a column of its own, and the swept
  option, a column too;
- resuming (n2n_utils.training) refuses a checkpoint whose options differ in anything else,
  or whose data do.

Loading weights needs only this module, not the training engine.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from .augment import check_augmentations
from .config import OptionError, resolve_device
from .files import load_torch

# The EE-559 report's choices, which the sweeps test and every other run uses.
REPORT_LR = 8e-4
REPORT_BATCH_SIZE = 8

CHOICES = {
    "loss": ("mse", "l1", "log_mse"),
    "target": ("noise2noise", "noise2clean"),
    "lr_schedule": ("constant", "cosine"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "final_activation": ("relu", "linear"),
    "channels_last": ("auto", True, False),
}


@dataclass
class TrainConfig:
    """The options of one training run, plain values; `from_dict` refuses unknown keys."""

    epochs: int = 10
    lr: float = REPORT_LR                  # Adam
    batch_size: int = REPORT_BATCH_SIZE
    # l1 where the median is the right target (impulse, text); log_mse weighs every pair alike
    # whatever its noise level (blind gaussian: training.log_mse_loss)
    loss: Literal["mse", "l1", "log_mse"] = "mse"
    target: Literal["noise2noise", "noise2clean"] = "noise2noise"
    augment: tuple[str, ...] = ("dihedral",)  # see n2n_utils.augment
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # autocast dtype; auto = bf16 where the device computes it natively (benchmarks/ measures its
    # speed and its PSNR against fp32), else fp32. fp16 on CUDA only. Asking for bf16/fp16 where
    # the device only emulates it warns (about 10x slower than fp32 on a CPU).
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # memory layout; auto = whichever trains faster here, measured once per machine (n2n_utils.layout)
    channels_last: bool | Literal["auto"] = "auto"
    model: str = "resunet"
    final_activation: Literal["relu", "linear"] = "relu"  # Table I ends in a ReLU
    seed: int = 0
    # start from these weights instead of the seed's random ones: a shipped name, a weights file
    # or a training checkpoint (weights.read_weights reads each); None: from scratch. A name means
    # the file of that name at the run's git commit, which the exported card records.
    init: str | None = None
    device: str = "auto"                   # auto: cuda > mps > cpu
    eval_batch_size: int = 500
    eval_every: int = 1                    # validate every k epochs (always after the last)
    progress: bool = True

    def __post_init__(self):
        self.augment = tuple(self.augment)
        if self.init is not None:  # a Path too: the checkpoint keeps plain values (torch.load weights_only)
            self.init = str(self.init)
        check_augmentations(self.augment)
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {allowed}")
        needs = {"epochs": (self.epochs >= 0, "0 or more"), "lr": (0 < self.lr < math.inf, "finite, above 0"),
                 "batch_size": (self.batch_size >= 1, "at least 1"), "seed": (self.seed >= 0, "0 or more"),
                 "eval_every": (self.eval_every >= 1, "at least 1")}
        for name, (ok, need) in needs.items():
            if not ok:
                raise OptionError(name, getattr(self, name), f"needs {need}")

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


def with_defaults(saved: dict) -> dict:
    """A config as a checkpoint or weights file saved it, with the default of every option it
    predates (`init`, say): what that run used."""
    return {**{f.name: f.default for f in fields(TrainConfig)}, **saved}


# Options that never change what a run computes: where it runs, what it prints, how many
# validation images go through the network at once. (channels_last is part of a run's identity,
# so that committed runs keep their names; its default, "auto", is the same on every machine.)
NOT_A_RESULT = frozenset({"device", "progress", "eval_batch_size"})
# A checkpoint resumes with these changed as well: more epochs continue the run (not under a
# cosine schedule, which spans all the epochs; training checks that), and validating more or
# less often changes no weight.
RESUMABLE_CHANGES = NOT_A_RESULT | {"epochs", "eval_every"}


# How data were generated when metas began to record it (data.crops.GENERATION then): left out
# of a run's identity, so that every run made before kept its name. A later generation is in it.
FIRST_RECORDED_GENERATION = "48a25fc102cd"


def data_identity(meta: dict) -> dict:
    """What makes a dataset the same data to a run (its key, its checkpoint's resume): its meta,
    less the folder it was read from when a digest of the files' bytes (`files_digest`: photos,
    the course's files) says what they are, so that the files moved, copied or cloned elsewhere
    are the same data, and a file replaced under its name is not; and less the generation when
    it is FIRST_RECORDED_GENERATION, which a meta without one was made by or before."""
    return {k: v for k, v in meta.items()
            if not (k == "folder" and "files_digest" in meta)
            and not (k == "generation" and v == FIRST_RECORDED_GENERATION)}


def config_digest(config: TrainConfig, data_meta: dict, leave_out: set[str] | frozenset[str] = frozenset(),
                  length: int = 12) -> str:
    """The hex digest (`length` characters) of a run: its options but NOT_A_RESULT and
    `leave_out`, and its data (data_identity). The same run on the same data gives the same digest.
    Options that are None (unset, like `init` from scratch) are left out, so that adding an
    optional field keeps every earlier run's digest, and its checkpoint's name."""
    options = {k: v for k, v in config.to_dict().items()
               if k not in NOT_A_RESULT | set(leave_out) and v is not None}
    blob = json.dumps({"config": options, "data": data_identity(data_meta)}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:length]


def checkpoint_name(config: TrainConfig, data_meta: dict, prefix: str = "resunet") -> str:
    """A file name that changes whenever the run would: the same config on the same data
    resumes, anything else starts a new checkpoint instead of clashing with the old one."""
    return f"{prefix}-{config_digest(config, data_meta, RESUMABLE_CHANGES, length=10)}.pt"


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """Read a training checkpoint or a weights file safely (files.load_torch: tensors and plain
    values only, a pickle never runs code); any failure is one ValueError naming the file."""
    return load_torch(path, resolve_device(device))


def check_state_dict(state: object, path: str | Path) -> None:
    """Refuse a state dict that is no mapping of floating-point tensors (integers would be cast
    into the network without a word), or holds NaN or inf (a network with them turns every
    image black)."""
    if not isinstance(state, dict):
        raise ValueError(f"{path}: the network's parameters should be a mapping of names to tensors, "
                         f"found {type(state).__name__}")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: the network's parameters should be tensors; {key} is a "
                             f"{type(value).__name__}, not a tensor")
        if not value.is_floating_point():
            raise ValueError(f"{path}: the network's parameters should be floating point; {key} holds {value.dtype}")
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{path}: unusable weights: {len(bad)} tensor(s) hold NaN or inf, first {bad[0]}")


def fit_state_dict(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> nn.Module:
    """Load `state` into `model`, refusing with one line that names the file and the first
    tensor that is missing, unexpected or of another shape (or any check_state_dict refuses)."""
    check_state_dict(state, path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        what = (f"missing {len(missing)} tensor(s), first {missing[0]}" if missing else
                f"{len(unexpected)} tensor(s) the network does not have, first {unexpected[0]}")
        raise ValueError(f"{path}: does not fit the {type(model).__name__}: {what}")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise ValueError(f"{path}: does not fit the {type(model).__name__}: {key} has shape "
                             f"{tuple(state[key].shape)}, the network expects {tuple(tensor.shape)}")
    model.load_state_dict(state)
    return model


CHECKPOINT_KEYS = {"model", "optimizer", "epoch", "config", "history"}


def is_bare_state_dict(blob: object) -> bool:
    """Whether a loaded torch file holds a network's tensors only (a state dict saved alone, as
    export-course's bestmodel.pth), without the config that says which network."""
    return isinstance(blob, dict) and bool(blob) and all(isinstance(v, torch.Tensor) for v in blob.values())


def load_training_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """A checkpoint that `train` wrote, to resume from; a ValueError naming the file for
    anything else (a weights file, a bare state dict such as export-course's bestmodel.pth)."""
    ckpt = load_checkpoint(path, device)
    if isinstance(ckpt, dict) and CHECKPOINT_KEYS <= ckpt.keys() and isinstance(ckpt["config"], dict):
        return ckpt
    if is_bare_state_dict(ckpt):
        found = "a bare state dict (network parameters only)"
    elif isinstance(ckpt, dict) and {"state_dict", "card"} <= ckpt.keys():
        found = "shipped weights (state_dict, config, card)"
    else:
        keys = f" with keys {sorted(map(str, ckpt))[:6]}" if isinstance(ckpt, dict) else ""
        found = f"a {type(ckpt).__name__}{keys}"
    raise ValueError(f"{path}: not a training checkpoint (needs {', '.join(sorted(CHECKPOINT_KEYS))}), "
                     f"found {found}; name a new checkpoint file to train from scratch")
