"""The comparisons that go beyond the report: Noise2Noise against clean-target training
(Noise2Clean) and classical denoisers, per noise model; the effect of augmentation; and a
learning curve in the number of training pairs.

Every function returns plain rows (dicts) that notebooks turn into DataFrames. Each method is
scored on the same validation crops, by the course's metric (mean of per-image PSNR) with a
95% CI, SSIM, and the wall time to denoise the validation set; each row also carries its
per-crop PSNRs (seeds.PER_CROP, written to `<name>_per_crop.csv` by seeds.write_seed_tables), so
that a gap between two methods is judged on the same crops, paired (n2n_utils.gaps, which also
gives the headline). Each ResUNet is trained once per seed of `seeds` (its row carries the seed:
n2n_utils.seeds averages them), the classical methods once.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import torch

from .augment import valid_augmentations
from .classical import METHODS, run_baseline, suitable
from .data import DenoisingData
from .inference import predict
from .many import train_many
from .metrics import psnr_per_image, score, to_float
from .noise import SUITED_LOSS, noise_params
from .seeds import PER_CROP, crop_scores
from .training import TrainConfig, TrainResult

# Row labels that tables, figures and the report match.
NOISY_INPUT = "noisy input"
N2N = "ResUNet Noise2Noise"
N2C = "ResUNet Noise2Clean"
# augmentation_ablation's baseline setting (gaps.ablation_gaps pairs each other setting with it)
NO_AUGMENTATION = "none"


def _per_crop(denoised: torch.Tensor, data: DenoisingData) -> dict:
    """A row's PER_CROP entry: `denoised`'s PSNR on each validation crop, with its photo."""
    return {PER_CROP: crop_scores(psnr_per_image(denoised, to_float(data.val_clean)).tolist(), data.val_groups)}


def noisy_row(data: DenoisingData) -> dict:
    noisy = to_float(data.val_input)
    return {"method": NOISY_INPUT, **score(noisy, to_float(data.val_clean)), "seconds": 0.0, "params": "",
            **_per_crop(noisy, data)}


def resunet_config(noise: str, base: TrainConfig, **changes) -> TrainConfig:
    """The study's recipe for a noise: its suited loss and the augmentations that keep its law."""
    recipe = {"loss": SUITED_LOSS[noise], "augment": valid_augmentations(noise)}
    return dataclasses.replace(base, **{**recipe, **changes})


def with_seeds(configs: Sequence[TrainConfig], seeds: Sequence[int] = ()) -> list[TrainConfig]:
    """Each config once per seed of `seeds` (config-major), or as it is when `seeds` is empty."""
    return [dataclasses.replace(c, seed=s) for c in configs for s in seeds] if seeds else list(configs)


def resunet_rows(data: DenoisingData, configs: dict[str, TrainConfig], seeds: Sequence[int] = ()) -> list[dict]:
    """Train one ResUNet per labelled config and seed (`with_seeds`; together where faster:
    n2n_utils.many) and score each; one row per network."""
    labels = [label for label in configs for _ in seeds or [None]]
    results = train_many(data, with_seeds(list(configs.values()), seeds))
    return [scored_row(result, data, label) for label, result in zip(labels, results, strict=True)]


def scored_row(result: TrainResult, data: DenoisingData, label: str) -> dict:
    """Score a trained ResUNet on data.val_*: PSNR, SSIM, and the seconds to denoise them."""
    config = result.config
    start = time.perf_counter()
    denoised = predict(result.model, data.val_input)
    seconds = time.perf_counter() - start
    return {"method": label, "seed": config.seed, **score(denoised, to_float(data.val_clean)), "seconds": seconds,
            "train_seconds": result.info["seconds"], "params": f"loss={config.loss}, "
            f"augment={'+'.join(config.augment) or 'none'}, epochs={config.epochs}", **_per_crop(denoised, data)}


def compared_noises(noises: Sequence[str], noise: str) -> tuple[str, ...]:
    """The noise models notebook 05 compares: `noises` (a profile's cmp_noises) and, at the end
    where it is not among them, `noise`, the one its ablation, learning curve and headline use.
    Refused before any training: an unknown noise, and as `noise` one that no classical method
    suits (gaussian_blind), which has no headline."""
    if not any(suitable(method, noise) for method in METHODS):  # suitable refuses unknown names
        suited = sorted({n for m in METHODS.values() for n in m.noises})
        raise ValueError(f"noise {noise!r}: no classical method suits it, so notebook 05 has no headline "
                         f"for it; choose one of {', '.join(suited)}")
    for other in noises:
        noise_params(other)
    return tuple(noises) if noise in noises else (*noises, noise)


def compare_methods(data: DenoisingData, base: TrainConfig, n_tune: int, seeds: Sequence[int] = ()) -> list[dict]:
    """All methods on one noise: noisy input, each suitable classical denoiser (tuned on
    training crops), the ResUNet trained Noise2Noise and, with the same budget, Noise2Clean,
    each once per seed of `seeds` (none: base.seed)."""
    noise = data.meta["noise"]
    rows = [noisy_row(data)]
    for method in METHODS:
        if suitable(method, noise):
            r = run_baseline(method, data, noise, n_tune=n_tune)
            rows.append({"method": method.upper() if method != "median" else "median",
                         "psnr": r["psnr"], "psnr_ci95": r["psnr_ci95"], "ssim": r["ssim"],
                         "seconds": r["seconds"], "params": str(r["params"]), **_per_crop(r["denoised"], data)})
    config = resunet_config(noise, base)
    rows += resunet_rows(data, {N2N: config, N2C: dataclasses.replace(config, target="noise2clean")}, seeds)
    return [{"noise": noise, **row} for row in rows]


def augmentation_ablation(data: DenoisingData, base: TrainConfig, seeds: Sequence[int] = ()) -> list[dict]:
    """Noise2Noise with no augmentation, dihedral only, and every law-preserving augmentation,
    each once per seed of `seeds` (none: base.seed)."""
    noise = data.meta["noise"]
    variants = {NO_AUGMENTATION: (), "dihedral": ("dihedral",), "all valid": valid_augmentations(noise)}
    labels = {f"N2N, {name}": name for name in variants}
    rows = resunet_rows(data, {label: resunet_config(noise, base, augment=variants[name])
                               for label, name in labels.items()}, seeds)
    return [{"noise": noise, "augmentation": labels[row["method"]], **row} for row in rows]


def subset(data: DenoisingData, n: int) -> DenoisingData:
    """The first `n` training pairs of `data`, with the same validation set."""
    return dataclasses.replace(data, train_input=data.train_input[:n], train_target=data.train_target[:n],
                               train_clean=None if data.train_clean is None else data.train_clean[:n],
                               meta={**data.meta, "n_train": min(n, len(data.train_input))})


def learning_curve(data: DenoisingData, base: TrainConfig, sizes: tuple[int, ...], images_seen: int,
                   targets: tuple[str, ...] = ("noise2noise", "noise2clean"),
                   seeds: Sequence[int] = ()) -> list[dict]:
    """Noise2Noise and Noise2Clean PSNR against the number of training pairs, each run seeing
    about `images_seen` training images (equal optimizer steps), so that more data is not
    confounded with more training; each run once per seed of `seeds` (none: base.seed)."""
    noise = data.meta["noise"]
    runs = [(n, target, config) for n in sizes for target in targets
            for config in with_seeds([resunet_config(noise, base, epochs=max(1, round(images_seen / n)),
                                                     target=target)], seeds)]
    subsets = {n: subset(data, n) for n in sizes}
    # one pass for the runs that can share it, where that is faster (n2n_utils.many)
    results = train_many([subsets[n] for n, _, _ in runs], [config for _, _, config in runs])
    return [{"noise": noise, "n_train": n, "target": target, "epochs": config.epochs,
             **scored_row(result, subsets[n], target)}
            for (n, target, config), result in zip(runs, results, strict=True)]
