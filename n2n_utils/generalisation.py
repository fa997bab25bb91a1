"""Generalisation: how well a ResUNet trained on a few photos denoises photos it never saw,
and which training content closes the gap to BM3D.

Each recipe is a choice of training content (photos, dead leaves mixed in by a fraction) and
augmentation; every recipe gets the same training budget and is scored per held-out photo,
beside BM3D, TV and the noisy input on the very same crops. Each network is trained once per
seed of `seeds` (its rows carry the seed: n2n_utils.seeds averages them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from .augment import ensemble_for, valid_augmentations
from .classical import run_baseline
from .comparisons import NOISY_INPUT, resunet_config, with_seeds
from .data import SPLITS, DenoisingData, load_dataset, photo_folds
from .inference import predict
from .many import train_many
from .metrics import psnr_by_group, to_float
from .training import TrainConfig
from .weights import DEFAULT_WEIGHTS, images_seen, load_weights, read_weights

ENSEMBLE_LABEL = "test-time ensemble"  # rows scored with augment.ensemble_for(noise)
REPORT_RECIPE = "photos, dihedral (report)"
CV_RESUNET = "ResUNet N2N"  # the default recipe's rows in the cross-validation
BM3D, TV = "BM3D", "TV"  # classical baselines' rows: their method names in capitals
BASELINES = (NOISY_INPUT, BM3D, TV)  # the rows every recipe is compared with

# name -> (fraction of training pairs from dead leaves, augmentations; "valid" = all that keep the noise law)
RECIPES: dict[str, tuple[float, tuple[str, ...] | str]] = {
    REPORT_RECIPE: (0.0, ("dihedral",)),
    "photos + colour augmentation": (0.0, "valid"),
    "+ 25% dead leaves": (0.25, "valid"),
    "+ 50% dead leaves": (0.5, "valid"),
    "dead leaves only": (1.0, "valid"),
}


def _per_photo(method: str, denoised, data: DenoisingData, **extra) -> list[dict]:
    table = psnr_by_group(denoised, to_float(data.val_clean), data.val_groups)
    return [{"method": method, "photo": row.group, "psnr": row.psnr, "ci95": row.ci95, "n": row.n, **extra}
            for row in table.itertuples()]


def baseline_rows(data: DenoisingData, n_tune: int, methods: tuple[str, ...] = ("bm3d", "tv")) -> list[dict]:
    """Per-photo PSNR of the noisy input and of classical methods tuned on training crops."""
    rows = _per_photo(NOISY_INPUT, to_float(data.val_input), data)
    for method in methods:
        r = run_baseline(method, data, n_tune=n_tune)
        rows += _per_photo(method.upper(), r["denoised"], data, params=str(r["params"]))
    return rows


def recipe_rows(dataset: str, noise: str, n_train: int, n_val: int, seed: int, base: TrainConfig,
                recipes: dict = RECIPES, seeds: Sequence[int] = ()) -> list[dict]:
    """Train one ResUNet (Noise2Noise) per recipe and training seed of `seeds` (none:
    base.seed) at the same budget, on data drawn with `seed`; per-photo PSNR rows."""
    datasets = [load_dataset(dataset, noise=noise, n_train=n_train, n_val=n_val, seed=seed, mix_deadleaves=mix)
                for mix, _ in recipes.values()]
    augments = [valid_augmentations(noise) if augment == "valid" else augment for _, augment in recipes.values()]
    per_recipe = len(seeds) or 1
    runs = [(name, mix, augment, data) for name, (mix, _), augment, data
            in zip(recipes, recipes.values(), augments, datasets, strict=True) for _ in range(per_recipe)]
    configs = with_seeds([resunet_config(noise, base, augment=augment) for augment in augments], seeds)
    # one pass for all recipes and seeds where that is faster (n2n_utils.many): each has its own data
    results = train_many([data for *_, data in runs], configs)
    rows = []
    for (name, mix, augment, data), result in zip(runs, results, strict=True):
        rows += _per_photo(name, predict(result.model, data.val_input), data, seed=result.config.seed,
                           mix_deadleaves=mix, augment="+".join(augment), train_seconds=result.info["seconds"])
    return rows


def cross_validation_rows(k: int, noise: str, n_train: int, n_val: int, seed: int, base: TrainConfig,
                          n_tune: int, methods: tuple[str, ...] = ("bm3d", "tv"),
                          seeds: Sequence[int] = ()) -> list[dict]:
    """Leave-photos-out cross-validation of the default recipe (colour augmentation, no dead
    leaves): for each of `photo_folds(k)`, a ResUNet is trained Noise2Noise on the other photos
    (once per training seed of `seeds`; none: base.seed) and scored per held-out photo, beside
    the noisy input and the classical methods on the same crops. Every photo is held out exactly
    once, so each gets a score from a model that never saw it; a single split's three photos say
    little about a method on its own."""
    folds = [load_dataset("natural32", noise=noise, n_train=n_train, n_val=n_val, seed=seed, holdout=holdout)
             for holdout in photo_folds(k)]
    per_fold = len(seeds) or 1
    configs = with_seeds([resunet_config(noise, base)], seeds) * len(folds)
    results = train_many([data for data in folds for _ in range(per_fold)], configs)  # together where faster
    rows = []
    for fold, data in enumerate(folds):
        fold_rows = baseline_rows(data, n_tune, methods)
        for result in results[fold * per_fold:(fold + 1) * per_fold]:
            model, trained = result.model, {"seed": result.config.seed}
            fold_rows += _per_photo(CV_RESUNET, predict(model, data.val_input), data, **trained)
            fold_rows += _per_photo(f"{CV_RESUNET}, {ENSEMBLE_LABEL}",
                                    predict(model, data.val_input, ensemble=ensemble_for(noise)), data, **trained)
        rows += [{"fold": fold, **row} for row in fold_rows if row["photo"] != "all"]
    return rows


def shipped_weights_rows(data: DenoisingData, name: str = DEFAULT_WEIGHTS) -> list[dict]:
    """Per-photo PSNR of shipped weights, plain and with the test-time ensemble, where they were
    trained for this data (the same dataset, noise and noise level) on none of its validation
    photos; otherwise no rows. They show what a larger training budget than the notebook's buys."""
    card = read_weights(name)["card"]
    meta = data.meta
    same_task = (card.get("data"), card.get("noise")) == (meta.get("name"), meta.get("noise")) and all(
        abs(card["noise_params"].get(k, math.nan) - v) < 1e-6 for k, v in meta.get("noise_params", {}).items())
    # cards made before holdout= existed do not list their photos: those used the default split
    trained_on = card.get("train_photos") or SPLITS["train"]
    if not same_task or set(trained_on) & set(data.val_groups or []):
        return []
    model = load_weights(name, device="cpu")
    seen = images_seen(card)
    label = f"shipped weights ({seen // 1000}k images seen)" if seen else "shipped weights"
    return (_per_photo(label, predict(model, data.val_input), data)
            + _per_photo(f"{label}, {ENSEMBLE_LABEL}",
                         predict(model, data.val_input, ensemble=ensemble_for(meta["noise"])), data))


def _pivot(rows: list[dict]) -> pd.DataFrame:
    """PSNR with methods as rows, in the order they first appear, and photos as columns."""
    frame = pd.DataFrame(rows)
    return frame.pivot(index="method", columns="photo", values="psnr").reindex(list(dict.fromkeys(frame["method"])))


def photo_mean_table(rows: list[dict]) -> pd.DataFrame:
    """Methods as rows, photos as columns, and their unweighted mean ('photo mean'), in dB."""
    table = _pivot(rows)
    return table.assign(**{"photo mean": table.mean(axis=1)})


def per_photo_table(rows: list[dict]) -> pd.DataFrame:
    """Methods as rows, held-out photos (and their mean, 'all') as columns, PSNR in dB."""
    table = _pivot(rows)
    return table[[c for c in table.columns if c != "all"] + ["all"]]


def gap_to(table: pd.DataFrame, method: str = BM3D) -> pd.DataFrame:
    """Each network's PSNR minus `method`'s, per photo (dB, positive: the network wins, rounded
    to 0.01), from per_photo_table or photo_mean_table; the BASELINES rows left out."""
    return (table.drop(index=list(BASELINES)) - table.loc[method]).round(2)


MEANS = ("all", "photo mean")  # the columns of per_photo_table and photo_mean_table that are no photo


def photos_of(row: pd.Series) -> list[str]:
    """The photos a row of the tables above scores (dB per photo): its columns but the method
    and the mean over the photos ('all' or 'photo mean')."""
    return [c for c in row.index if c not in ("method", *MEANS)]


def worst_photo(row: pd.Series) -> str:
    """The photo where `row` (dB per photo: a PSNR or a gap to BM3D) is lowest."""
    return min(photos_of(row), key=lambda p: row[p])


def best_recipe(gap: pd.DataFrame, recipes: dict = RECIPES) -> str:
    """The recipe with the largest gap on all photos ('all', from gap_to)."""
    return str(gap.loc[[r for r in recipes if r in gap.index], "all"].idxmax())
