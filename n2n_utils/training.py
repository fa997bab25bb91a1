"""The training engine: one readable function, `train`, from paired uint8 tensors to a model
and a per-epoch history.

Data stay whole tensors on the device and batches are index slices: no per-sample Dataset or
DataLoader, which on a 32x32 problem costs more than the network. Every random draw (the
shuffle, the augmentations) comes from a generator seeded by (seed, epoch), so a run resumed
from a checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .augment import augment
from .config import autocast, describe_device, resolve_device, resolve_precision
from .data import CROP, DenoisingData
from .files import git_commit, save_torch
from .inference import predict
from .layout import fastest_layout
from .metrics import psnr, to_float
from .models import get_model
from .runs import (
    CHOICES,
    RESUMABLE_CHANGES,
    TrainConfig,
    checkpoint_name,
    data_identity,
    fit_state_dict,
    load_checkpoint,
    load_training_checkpoint,
    with_defaults,
)
from .weights import init_record, read_weights, weights_path

__all__ = ["CHOICES", "LOSSES", "TrainConfig", "TrainResult", "build_model", "checkpoint_name", "epoch_order",
           "evaluate", "learning_rate", "load_checkpoint", "train", "training_batch", "training_pairs"]

# Below this per-pair MSE (0-1 units: 1/255 squared) log_mse stops pushing: a pair whose two
# draws are already this close (no noise) is not worth an ever larger step.
LOG_MSE_FLOOR = (1 / 255) ** 2


def log_mse_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean over pairs (dim 0) of log(MSE of the pair + LOG_MSE_FLOOR): minus the mean PSNR
    against the target, up to a constant factor.

    For blind training (gaussian_blind): under plain MSE a pair's gradient grows with its noise,
    so the pairs at sigma 50/255 drown those at 5/255; here each pair's gradient is its MSE
    gradient divided by its own MSE (about err + sigma^2 against a noisy target), so every noise
    level counts alike. It stays a Noise2Noise loss: the weight depends on the pair's noise only
    through its energy over all pixels (3,072 for a 32 x 32 RGB crop), which is even in every
    pixel's noise, so the minimiser is still the clean image for zero-mean symmetric noise."""
    per_pair = (output - target).square().flatten(1).mean(1)
    return torch.log(per_pair + LOG_MSE_FLOOR).mean()


CHECK_IMAGES = 8  # validation images that check a checkpoint's weights in an epoch not evaluated (eval_every > 1)
LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "log_mse": log_mse_loss}


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, scaler,
                    precision: str, epochs_done: int, config: TrainConfig, history: list[dict],
                    data: DenoisingData, init: dict | None = None, made_by: dict | None = None,
                    seconds: float | None = None) -> None:
    """Write the training checkpoint (atomically): what `train(resume=True)` continues from and
    `weights.load_weights` / `export_weights` read. init: `weights.init_record` of the weights
    the run started from, if any (the model card's `init`). made_by: `made_by(device)`, the code
    and the machine that trained it (the card's git_commit and device). seconds: the wall time
    of its `epochs_done` epochs, validation included, over every call that trained them."""
    save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "precision": precision, "epoch": epochs_done, "config": config.to_dict(), "history": history,
                "data": data.meta, **({"init": init} if init else {}), **(made_by or {}),
                **({"seconds": seconds} if seconds is not None else {})}, path)


def made_by(device: torch.device) -> dict:
    """What a checkpoint records of the run that wrote it: `git_commit` (with -dirty for local
    changes; a resumed run, the commit it was last trained at) and `device` (describe_device)."""
    return {"git_commit": git_commit(), "device": describe_device(device)}


@dataclass
class TrainResult:
    model: nn.Module | None  # None: the run diverged (many.diverged_result)
    history: pd.DataFrame
    config: TrainConfig
    info: dict = field(default_factory=dict)  # device, parameter count, seconds (wall; a resumed run's all)

    @property
    def final_psnr(self) -> float:
        """Validation PSNR (dB) after the last epoch."""
        return float(self.history["val_psnr"].iloc[-1]) if len(self.history) else float("nan")


def build_model(config: TrainConfig) -> nn.Module:
    """The network a config describes, initialised from its seed, or from the weights that
    `config.init` names (which must be the same network: model and final activation)."""
    torch.manual_seed(config.seed)
    model = get_model(config.model, final_activation=config.final_activation)
    if config.init is not None:
        blob, path = read_weights(config.init), weights_path(config.init)
        theirs = {k: with_defaults(blob["config"])[k] for k in ("model", "final_activation")}
        ours = {"model": config.model, "final_activation": config.final_activation}
        if theirs != ours:
            raise ValueError(f"{path}: cannot start from these weights: they are {theirs}, the run asks for {ours}")
        fit_state_dict(model, blob["state_dict"], path)
    return model


def evaluate(model: nn.Module, noisy: torch.Tensor, clean: torch.Tensor, batch_size: int = 500) -> float:
    """Mean per-image PSNR (dB) of the model's output on uint8 `noisy` against uint8 `clean`."""
    return psnr(predict(model, noisy, batch_size), to_float(clean))


def training_pairs(data: DenoisingData, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 (input, target) training tensors `config` trains on (target: the second noisy
    copy, or the clean image for noise2clean)."""
    targets = data.train_target if config.target == "noise2noise" else data.train_clean
    if targets is None:
        raise ValueError(f"target='noise2clean' needs clean training images; "
                         f"dataset {data.meta.get('name')!r} has none")
    if len(data.train_input) == 0 or len(data.val_input) == 0:
        raise ValueError(f"the {'training' if len(data.train_input) == 0 else 'validation'} set is empty")
    return data.train_input, targets


def epoch_order(config: TrainConfig, epoch: int, n: int, device: torch.device) -> tuple[torch.Generator, torch.Tensor]:
    """The generator of epoch `epoch` (0-based), seeded by (seed, epoch), and the order of the
    n training pairs it draws; the same generator then draws the augmentations."""
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    return generator, torch.randperm(n, generator=generator).to(device)


def training_batch(config: TrainConfig, inputs: torch.Tensor, targets: torch.Tensor, idx: torch.Tensor,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The pairs at `idx` as float 0-1, augmented as `config` says (draws from `generator`)."""
    x = inputs[idx].float().div_(255.0)
    y = targets[idx].float().div_(255.0)
    return augment(config.augment, x, y, generator)


def diverged(what: str, when: str, **settings) -> FloatingPointError:
    """The error that stops a run whose loss or output is no longer finite, in one line: what
    ('loss', 'output on the validation images'), when ('in epoch 2, step 100'), the settings
    that matter (lr=..., batch_size=...) and the remedy. `train` and `many.train_together` raise it."""
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items())
    return FloatingPointError(f"training diverged: non-finite {what} {when} ({shown}); lower the learning rate")


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * step / max(total_steps, 1)))
    return config.lr


def _plain(value):
    """`value` as JSON would give it back (tuples as lists): a cached dataset's meta went
    through JSON, a fresh one did not."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def check_resume(ckpt: dict, checkpoint: str | Path, data: DenoisingData, config: TrainConfig) -> None:
    """Refuse, with a ValueError naming `checkpoint`, to resume its contents `ckpt` (from
    load_training_checkpoint) on other data, under a config that differs beyond what a resume
    may change, or for fewer epochs than it holds. `train(resume=True)` calls it; a caller that
    says what it resumes (the CLI) calls it first."""
    resumable = RESUMABLE_CHANGES - ({"epochs"} if config.lr_schedule == "cosine" else set())
    recorded = with_defaults(ckpt["config"])
    asked = config.to_dict()
    changed = {k for k in recorded.keys() | asked.keys() if k not in resumable and recorded.get(k) != asked.get(k)}
    config_words = ", ".join(f"{k} (checkpoint {recorded.get(k)!r}, asked {asked.get(k)!r})"
                             for k in sorted(changed))
    their_meta, our_meta = _plain(ckpt.get("data") or {}), _plain(data.meta)
    theirs, ours = data_identity(their_meta), data_identity(our_meta)
    # the data first: other data is the cause a user must see, and options whose defaults
    # follow the data (the CLI's augment) differ because of it
    if theirs != ours:  # e.g. natural32 cut at another --crop: the same name and size
        shown = lambda meta, k: meta.get(k, CROP if k == "crop" else None)  # meta names only a crop not CROP
        # what differs in the metas as read: a folder data_identity left out on one side only
        # (a checkpoint from before its data had a digest) is no difference when it is the same
        differ = [k for k in sorted(theirs.keys() | ours.keys())
                  if theirs.get(k) != ours.get(k) and their_meta.get(k) != our_meta.get(k)]
        raise ValueError(f"{checkpoint}: cannot resume, it was trained on other data ({theirs.get('name')!r}): "
                         + ", ".join(f"{k} (checkpoint {shown(their_meta, k)!r}, asked {shown(our_meta, k)!r})"
                                     for k in differ)
                         + (f"; its config differs too, in {config_words}" if changed else ""))
    if changed:
        raise ValueError(f"{checkpoint}: cannot resume, the config differs in {config_words}"
                         "; ask for the checkpoint's values, or start a new checkpoint")
    if ckpt["epoch"] > config.epochs:
        raise ValueError(f"{checkpoint}: holds {ckpt['epoch']} epochs, more than the {config.epochs} asked for; "
                         f"ask for {ckpt['epoch']} or more, or move the checkpoint away to train afresh")


def train(data: DenoisingData, config: TrainConfig | None = None, *,
          checkpoint: str | Path | None = None, resume: bool = False,
          model: nn.Module | None = None) -> TrainResult:
    """Train a denoiser on `data` as `config` says; validate on data.val_* after each epoch.

    checkpoint: where to save model, optimizer, epoch, config and history after each epoch
        (atomically). With resume=True and an existing checkpoint, training continues from it.
    model: start from this network instead of the one build_model makes (config.init is then
        not read; the caller's network is the start).
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)

    inputs, targets = training_pairs(data, config)

    resuming = resume and checkpoint is not None and Path(checkpoint).exists()
    # a resumed run starts from its checkpoint: the weights config.init names (since gone or
    # replaced, perhaps) are not read again; their record is in the checkpoint
    own_init = model is None and config.init is not None
    init = init_record(config.init) if own_init and not resuming else None
    model = model if model is not None else build_model(replace(config, init=None) if resuming else config)
    layout = (fastest_layout(model, config.model, tuple(inputs.shape[1:]), precision, config.batch_size, device)
              if config.channels_last == "auto" else "channels_last" if config.channels_last else "NCHW")
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    loss_fn = LOSSES[config.loss]

    start_epoch, history, earlier_s = 0, [], 0.0  # earlier_s: wall seconds of the epochs resumed from
    recorder = made_by(device) if checkpoint is not None else None
    if resuming:
        ckpt = load_training_checkpoint(checkpoint, device)
        check_resume(ckpt, checkpoint, data, config)
        fit_state_dict(model, ckpt["model"], checkpoint)
        optimizer.load_state_dict(ckpt["optimizer"])
        if "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch, history = ckpt["epoch"], list(ckpt["history"])
        # a checkpoint from before the wall time was kept: its epochs' training seconds
        earlier_s = float(ckpt.get("seconds", sum(row["seconds"] for row in history)))
        # as it was when the run started (a checkpoint from before records were kept: as it is now)
        init = ckpt.get("init") or (init_record(config.init) if own_init else None)

    inputs, targets = inputs.to(device), targets.to(device)
    n = len(inputs)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    t_start = time.perf_counter()
    bar = tqdm(total=total_steps, initial=start_epoch * steps_per_epoch, unit="step",
               disable=not config.progress, dynamic_ncols=True, mininterval=1.0)
    model.train()
    for epoch in range(start_epoch, config.epochs):
        generator, order = epoch_order(config, epoch, n, device)
        running = torch.zeros((), device=device)
        t_epoch = time.perf_counter()
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            lr = learning_rate(config, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = order[i * config.batch_size:(i + 1) * config.batch_size]
            x, y = training_batch(config, inputs, targets, idx, generator)
            x = x.contiguous(memory_format=memory_format)
            with autocast(device, precision):
                out = model(x)
            loss = loss_fn(out.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            running += loss.detach() * len(idx)
            if (i + 1) % 100 == 0 or i + 1 == steps_per_epoch:  # a sync: not every step on GPU
                if not torch.isfinite(running):
                    bar.close()  # so that the message starts a line of its own
                    raise diverged("loss", f"in epoch {epoch + 1}, step {i + 1}", lr=lr,
                                   batch_size=config.batch_size, precision=precision)
                bar.set_postfix(epoch=epoch + 1, loss=f"{float(running) / min((i + 1) * config.batch_size, n):.5f}")
            bar.update(1)
        train_seconds = time.perf_counter() - t_epoch
        last = epoch + 1 == config.epochs
        evaluated = last or (epoch + 1) % config.eval_every == 0
        val_psnr = evaluate(model, data.val_input, data.val_clean, config.eval_batch_size) if evaluated else math.nan
        if evaluated:
            overflowed = math.isnan(val_psnr)
        else:  # between evaluations, a checkpoint about to be kept is checked on a few validation images
            overflowed = checkpoint is not None and math.isnan(
                evaluate(model, data.val_input[:CHECK_IMAGES], data.val_clean[:CHECK_IMAGES], CHECK_IMAGES))
        if overflowed:  # a finite loss, then weights that overflow: keep the last checkpoint
            bar.close()
            raise diverged("output on the validation images", f"after epoch {epoch + 1}", lr=lr,
                           batch_size=config.batch_size, precision=precision)
        model.train()
        history.append({
            "epoch": epoch + 1, "train_loss": float(running) / n, "val_psnr": val_psnr,
            "lr": lr, "seconds": train_seconds, "images_per_s": n / train_seconds,
        })
        bar.set_postfix(epoch=epoch + 1, val_psnr=f"{val_psnr:.2f}")
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scaler, precision, epoch + 1, config, history, data, init,
                            made_by=recorder, seconds=earlier_s + time.perf_counter() - t_start)
    bar.close()
    info = {"device": describe_device(device), "precision": precision, "layout": layout,
            "parameters": sum(p.numel() for p in model.parameters()),
            "seconds": earlier_s + time.perf_counter() - t_start, "data": data.meta}
    return TrainResult(model.eval(), pd.DataFrame(history), config, info)
