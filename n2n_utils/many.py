"""Many networks at once: train K ResUNets of the same architecture in one pass of the device.

A sweep trains 18-24 copies of one 1.1M-parameter network, each at a batch (8) too small to
fill the device. `train_many` trains the configs that can share a pass together: the K
networks' parameters are stacked every step and one `torch.vmap` of the network runs all K
batches (each convolution becomes one grouped convolution with K groups). Every network keeps
its own seed (initialisation, data order, augmentations), learning rate and schedule, loss,
target, augmentations, Adam and, in fp16, loss scaler, and even its own data (same number of
pairs): each gets exactly the batches `training.train` would give it, from the engine's own
helpers. Only the order of the batched convolutions' sums differs (~1e-6 relative in fp32);
Adam's first steps and ReLU kinks carry that into a drift of a few percent of the weights'
change after a few steps, while losses agree to 1e-4 and PSNR after an epoch to 0.05 dB
(tests/test_many.py states and checks the tolerances).

Configs that cannot share a pass (another batch size, epoch count, precision, device, model)
go in separate groups; a group is trained together only where `batch_together` says it pays
on the device at hand (measured by benchmarks/many_routes.py and benchmarks/many_networks.py),
else one at a time by `training.train`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from .config import autocast, describe_device, resolve_device, resolve_precision
from .data import DenoisingData
from .training import (
    LOSSES,
    TrainConfig,
    TrainResult,
    build_model,
    diverged,
    epoch_order,
    evaluate,
    learning_rate,
    made_by,
    save_checkpoint,
    train,
    training_batch,
    training_pairs,
)
from .weights import init_record

# What K networks trained in one pass must share; everything else may differ between them.
SHARED = ("model", "final_activation", "batch_size", "epochs", "precision", "device", "eval_every",
          "eval_batch_size")
ROUTES = ("auto", "together", "one at a time")
MAX_GROUP = 24  # networks per pass: a 6 x 3 or 8 x 3 sweep in one go, memory stays small


def batch_together(config: TrainConfig, k: int) -> bool:
    """Whether training `k` networks like `config` together beats one after another on its
    device. On a GPU, yes: one network at batch 8 is bound by kernel launches, and K networks
    take K times fewer (benchmarks/many_networks.py measures it there). On a CPU, no: on the
    2-core AVX-512/bf16 development CPU, K = 3 and 6 networks at batch 4-8 trained together ran
    at 0.45-0.9x the images/s of one after another, in fp32 and bf16 (benchmarks/many_routes.py,
    measured under load; oneDNN's grouped convolutions are slower than its plain ones)."""
    return k >= 2 and resolve_device(config.device).type == "cuda"


def groups(configs: Sequence[TrainConfig], sizes: Sequence[int]) -> list[list[int]]:
    """Indices of `configs` that can share a pass (equal SHARED options, equal numbers of
    training pairs `sizes`), in order of first appearance, at most MAX_GROUP each."""
    keyed: dict[tuple, list[int]] = {}
    for i, (config, size) in enumerate(zip(configs, sizes, strict=True)):
        device = resolve_device(config.device)
        shared = {name: getattr(config, name) for name in SHARED}
        shared |= {"device": str(device), "precision": resolve_precision(config.precision, device), "n": size}
        keyed.setdefault(tuple(sorted(shared.items())), []).append(i)
    return [idx[j:j + MAX_GROUP] for idx in keyed.values() for j in range(0, len(idx), MAX_GROUP)]


def train_many(data: DenoisingData | Sequence[DenoisingData], configs: Sequence[TrainConfig],
               route: str = "auto", checkpoints: Sequence[Path] | None = None) -> list[TrainResult]:
    """Train one network per config; return what `training.train(data, config)` returns for
    each, in the order of `configs`.

    data: one dataset for all, or one per config (e.g. leave-photos-out folds).
    route: "auto" (together where `batch_together` says it pays), "together" (every group of
        two or more), or "one at a time" (plain `train`, one after another).
    checkpoints: one file per config, as `train(..., checkpoint=, resume=True)` reads and
        writes it. Networks trained one at a time write theirs after every epoch (an interrupted
        run continues); a group trained together writes them when it ends, and a group whose
        files all exist is read back from them (`train` with resume), not trained again.
    """
    results: list[TrainResult | None] = [None] * len(configs)
    for i, result in train_each(data, configs, route, checkpoints):
        results[i] = result
    return results


def train_each(data: DenoisingData | Sequence[DenoisingData], configs: Sequence[TrainConfig],
               route: str = "auto", checkpoints: Sequence[Path] | None = None,
               keep_diverged: bool = False) -> Iterator[tuple[int, TrainResult]]:
    """As `train_many`, but yields (index in configs, result) as soon as each network is
    trained (a group trained together: all at once), so that a sweep can save every run.

    keep_diverged: a network whose training stops on a non-finite loss or output
        (`training.diverged`) is a result, `diverged_result`, and the others go on: in a sweep,
        a learning rate too high to train is an outcome. A group trained together that stops
        is trained again one network at a time, so that only the diverging ones are lost.
        Without it the FloatingPointError ends the run, as `train`'s does.
    """
    if route not in ROUTES:
        raise ValueError(f"route={route!r}; choose one of {ROUTES}")
    datasets = list(data) if isinstance(data, Sequence) else [data] * len(configs)
    if len(datasets) != len(configs):
        raise ValueError(f"{len(datasets)} datasets for {len(configs)} configs; give one, or one per config")
    if checkpoints is not None and len(checkpoints) != len(configs):
        raise ValueError(f"{len(checkpoints)} checkpoints for {len(configs)} configs; give one per config")
    for group in groups(configs, [len(d.train_input) for d in datasets]):
        first = configs[group[0]]
        together = route == "together" and len(group) > 1 or route == "auto" and batch_together(first, len(group))
        if together and not (checkpoints is not None and all(Path(checkpoints[i]).exists() for i in group)):
            try:
                trained = train_together([datasets[i] for i in group], [configs[i] for i in group],
                                         None if checkpoints is None else [checkpoints[i] for i in group])
            except FloatingPointError:
                if not keep_diverged:
                    raise
            else:
                yield from zip(group, trained, strict=True)
                continue
        for i in group:
            checkpoint = None if checkpoints is None else checkpoints[i]
            started = time.perf_counter()
            try:
                result = train(datasets[i], configs[i], checkpoint=checkpoint, resume=checkpoint is not None)
            except FloatingPointError as err:
                if not keep_diverged:
                    raise
                result = diverged_result(configs[i], err, time.perf_counter() - started)
            yield i, result


def diverged_result(config: TrainConfig, error: FloatingPointError, seconds: float) -> TrainResult:
    """What a run that stopped on a non-finite loss or output leaves: no network, an empty
    history (final_psnr NaN), and in `info` the error's message (`diverged`), the precision,
    device and seconds (wall) it ran for."""
    device = resolve_device(config.device)
    return TrainResult(None, pd.DataFrame(columns=["epoch", "train_loss", "val_psnr"]), config,
                       {"diverged": str(error), "device": describe_device(device),
                        "precision": resolve_precision(config.precision, device), "seconds": seconds})


def _stacked_forward(models: list[torch.nn.Module], x: torch.Tensor) -> torch.Tensor:
    """All K networks on their own batches: x (K, B, C, H, W) -> (K, B, m, H, W). The stack is
    differentiable, so each network's own parameters receive its gradient."""
    names = [name for name, _ in models[0].named_parameters()]
    own = [dict(model.named_parameters()) for model in models]
    stacked = {name: torch.stack([params[name] for params in own]) for name in names}

    def one(params: dict, images: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(models[0], params, (images,))

    return torch.vmap(one)(stacked, x)


def train_together(datasets: Sequence[DenoisingData], configs: Sequence[TrainConfig],
                   checkpoints: Sequence[Path] | None = None) -> list[TrainResult]:
    """Train len(configs) networks in one pass per step (configs must agree on SHARED and the
    datasets on their number of training pairs: see `groups`). An interrupted group starts
    again; `checkpoints` (one file per config), if given, are written when all have finished."""
    first = configs[0]
    device = resolve_device(first.device)
    precision = resolve_precision(first.precision, device)
    sizes = [len(d.train_input) for d in datasets]
    if len(groups(configs, sizes)) != 1:
        raise ValueError("train_together needs configs that agree on " + ", ".join(SHARED)
                         + " and datasets with equal numbers of training pairs; use train_many")
    n = sizes[0]
    pairs = [training_pairs(d, c) for d, c in zip(datasets, configs, strict=True)]
    pairs = [(inputs.to(device), targets.to(device)) for inputs, targets in pairs]
    inits = [init_record(c.init) if c.init is not None else None for c in configs]  # as train keeps them
    models = [build_model(c).to(device) for c in configs]
    optimizers = [torch.optim.Adam(m.parameters(), lr=c.lr) for m, c in zip(models, configs, strict=True)]
    # one scaler per network, as train() has: one network's overflow must not skip another's step
    scalers = [torch.amp.GradScaler(device.type, enabled=precision == "fp16") for _ in configs]
    k, batch = len(configs), first.batch_size
    steps_per_epoch = math.ceil(n / batch)
    total_steps = steps_per_epoch * first.epochs
    histories: list[list[dict]] = [[] for _ in configs]
    t_start = time.perf_counter()
    bar = tqdm(total=total_steps, unit="step", desc=f"{k} networks", dynamic_ncols=True, mininterval=1.0,
               disable=not any(c.progress for c in configs))
    for model in models:
        model.train()
    lrs = [c.lr for c in configs]
    for epoch in range(first.epochs):
        drawn = [epoch_order(c, epoch, n, device) for c in configs]
        running = torch.zeros(k, device=device)
        t_epoch = time.perf_counter()
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            xs, ys = [], []
            for j, config in enumerate(configs):
                lrs[j] = learning_rate(config, step, total_steps)
                for group in optimizers[j].param_groups:
                    group["lr"] = lrs[j]
                (inputs, targets), (generator, order) = pairs[j], drawn[j]
                x, y = training_batch(config, inputs, targets, order[i * batch:(i + 1) * batch], generator)
                xs.append(x)
                ys.append(y)
            with autocast(device, precision):
                out = _stacked_forward(models, torch.stack(xs))
            losses = [LOSSES[c.loss](o.float(), y) for c, o, y in zip(configs, out, ys, strict=True)]
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            sum(scaler.scale(loss) for scaler, loss in zip(scalers, losses, strict=True)).backward()
            for optimizer, scaler in zip(optimizers, scalers, strict=True):
                scaler.step(optimizer)
                scaler.update()
            running += torch.stack([loss.detach() for loss in losses]) * len(ys[0])
            if (i + 1) % 100 == 0 or i + 1 == steps_per_epoch:  # a sync: not every step on GPU
                bad = [j for j in range(k) if not torch.isfinite(running[j])]
                if bad:
                    j = bad[0]
                    bar.close()  # so that the message starts a line of its own
                    raise diverged("loss", f"in epoch {epoch + 1}, step {i + 1} of network {j + 1}/{k}",
                                   lr=lrs[j], seed=configs[j].seed, batch_size=batch, precision=precision)
            bar.update(1)
        seconds = time.perf_counter() - t_epoch
        last = epoch + 1 == first.epochs
        for j, (model, config, data) in enumerate(zip(models, configs, datasets, strict=True)):
            evaluated = last or (epoch + 1) % config.eval_every == 0
            val_psnr = (evaluate(model, data.val_input, data.val_clean, config.eval_batch_size)
                        if evaluated else math.nan)
            if evaluated and math.isnan(val_psnr):  # a finite loss, then weights that overflow: as train stops
                bar.close()
                raise diverged("output on the validation images", f"after epoch {epoch + 1} of network {j + 1}/{k}",
                               lr=lrs[j], seed=config.seed, batch_size=batch, precision=precision)
            model.train()
            histories[j].append({"epoch": epoch + 1, "train_loss": float(running[j]) / n, "val_psnr": val_psnr,
                                 "lr": lrs[j], "seconds": seconds, "images_per_s": n / seconds})
    bar.close()
    seconds = time.perf_counter() - t_start
    recorder = made_by(device)
    for path, model, optimizer, scaler, config, history, data, init in zip(
            checkpoints or [], models, optimizers, scalers, configs, histories, datasets, inits, strict=False):
        # the file `training.train` writes after each epoch: `train(resume=True)` finds it finished
        save_checkpoint(path, model, optimizer, scaler, precision, first.epochs, config, history, data, init,
                        made_by=recorder, seconds=seconds / k)  # its share, as its TrainResult says
    return [TrainResult(model.eval(), pd.DataFrame(history), config,
                        {"device": describe_device(device), "precision": precision,
                         "parameters": sum(p.numel() for p in model.parameters()),
                         # each network's share of the group's wall time, so that sums stay true
                         "seconds": seconds / k, "trained_together": k, "group_seconds": seconds,
                         "data": data.meta})
            for model, history, config, data in zip(models, histories, configs, datasets, strict=True)]

