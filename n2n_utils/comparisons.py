"""The comparisons that go beyond the report: Noise2Noise against clean-target training
(Noise2Clean) and classical denoisers, per noise model; the effect of augmentation; and a
learning curve in the number of training pairs.

Every function returns plain rows (dicts) that notebooks turn into DataFrames. Each method is
scored on the same validation crops, by the course's metric (mean of per-image PSNR) with a
95% CI, SSIM, and the wall time to denoise the validation set.
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from .augment import valid_augmentations
from .classical import METHODS, run_baseline, suitable
from .data import DenoisingData
from .inference import predict
from .metrics import score, to_float
from .noise import SUITED_LOSS
from .training import TrainConfig, train

# Row labels that tables, figures and the report match.
NOISY_INPUT = "noisy input"
N2N = "ResUNet Noise2Noise"
N2C = "ResUNet Noise2Clean"


def noisy_row(data: DenoisingData) -> dict:
    return {"method": NOISY_INPUT, **score(to_float(data.val_input), to_float(data.val_clean)), "seconds": 0.0,
            "params": ""}


def resunet_config(noise: str, base: TrainConfig, **changes) -> TrainConfig:
    """The study's recipe for a noise: its suited loss and the augmentations that keep its law."""
    recipe = {"loss": SUITED_LOSS[noise], "augment": valid_augmentations(noise)}
    return dataclasses.replace(base, **{**recipe, **changes})


def resunet_row(data: DenoisingData, config: TrainConfig, label: str) -> dict:
    """Train a ResUNet as `config` says and score it on data.val_*."""
    result = train(data, config)
    start = time.perf_counter()
    denoised = predict(result.model, data.val_input)
    seconds = time.perf_counter() - start
    return {"method": label, **score(denoised, to_float(data.val_clean)), "seconds": seconds,
            "train_seconds": result.info["seconds"], "params": f"loss={config.loss}, "
            f"augment={'+'.join(config.augment) or 'none'}, epochs={config.epochs}"}


def compare_methods(data: DenoisingData, base: TrainConfig, n_tune: int) -> list[dict]:
    """All methods on one noise: noisy input, each suitable classical denoiser (tuned on
    training crops), the ResUNet trained Noise2Noise and, with the same budget, Noise2Clean."""
    noise = data.meta["noise"]
    rows = [noisy_row(data)]
    for method in METHODS:
        if suitable(method, noise):
            r = run_baseline(method, data, noise, n_tune=n_tune)
            rows.append({"method": method.upper() if method != "median" else "median",
                         "psnr": r["psnr"], "psnr_ci95": r["psnr_ci95"], "ssim": r["ssim"],
                         "seconds": r["seconds"], "params": str(r["params"])})
    config = resunet_config(noise, base)
    rows.append(resunet_row(data, config, N2N))
    rows.append(resunet_row(data, dataclasses.replace(config, target="noise2clean"), N2C))
    return [{"noise": noise, **row} for row in rows]


def augmentation_ablation(data: DenoisingData, base: TrainConfig) -> list[dict]:
    """Noise2Noise with no augmentation, dihedral only, and every law-preserving augmentation."""
    noise = data.meta["noise"]
    variants = {"none": (), "dihedral": ("dihedral",), "all valid": valid_augmentations(noise)}
    return [{"noise": noise, "augmentation": name,
             **resunet_row(data, resunet_config(noise, base, augment=augs), f"N2N, {name}")}
            for name, augs in variants.items()]


def subset(data: DenoisingData, n: int) -> DenoisingData:
    """The first `n` training pairs of `data`, with the same validation set."""
    return dataclasses.replace(data, train_input=data.train_input[:n], train_target=data.train_target[:n],
                               train_clean=None if data.train_clean is None else data.train_clean[:n],
                               meta={**data.meta, "n_train": min(n, len(data.train_input))})


def learning_curve(data: DenoisingData, base: TrainConfig, sizes: tuple[int, ...], images_seen: int,
                   targets: tuple[str, ...] = ("noise2noise", "noise2clean")) -> list[dict]:
    """Noise2Noise and Noise2Clean PSNR against the number of training pairs, each run seeing
    about `images_seen` training images (equal optimizer steps), so that more data is not
    confounded with more training."""
    noise = data.meta["noise"]
    rows = []
    for n in sizes:
        epochs = max(1, round(images_seen / n))
        for target in targets:
            config = resunet_config(noise, base, epochs=epochs, target=target)
            rows.append({"noise": noise, "n_train": n, "target": target, "epochs": epochs,
                         **resunet_row(subset(data, n), config, target)})
    return rows


def headline(table: pd.DataFrame, noise: str = "gaussian") -> dict:
    """PSNR (dB) on one noise of compare_methods' rows: noisy, best_classical (its label) and
    best_classical_psnr, n2n and n2c."""
    rows = table[table["noise"] == noise].set_index("method")["psnr"]
    classical = rows.drop(index=[NOISY_INPUT, N2N, N2C])
    return {"noisy": float(rows[NOISY_INPUT]), "best_classical": str(classical.idxmax()),
            "best_classical_psnr": float(classical.max()), "n2n": float(rows[N2N]), "n2c": float(rows[N2C])}
