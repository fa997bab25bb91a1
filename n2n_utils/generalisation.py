"""Generalisation: how well a ResUNet trained on a few photos denoises photos it never saw,
and which training content closes the gap to BM3D.

Each recipe is a choice of training content (photos, dead leaves mixed in by a fraction) and
augmentation; every recipe gets the same training budget and is scored per held-out photo,
beside BM3D, TV and the noisy input on the very same crops. Each network is trained once per
seed of `seeds` (its rows carry the seed: n2n_utils.seeds averages them).

The best recipe is chosen on those held-out photos (the selection photos), so its score there
is optimistic. The leave-photos-out cross-validation trains the chosen recipe once more per
fold, and its photos outside the selection set, where no recipe was compared, give the chosen
recipe's held-out estimate (the third split: `third_split_estimate`).
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
from .metrics import mean_ci, psnr_by_group, to_float
from .training import TrainConfig
from .weights import DEFAULT_WEIGHTS, build_network, images_seen, read_weights, weights_path

ENSEMBLE_LABEL = "test-time ensemble"  # rows scored with augment.ensemble_for(noise)
REPORT_RECIPE = "photos, dihedral (report)"
BM3D, TV = "BM3D", "TV"  # classical baselines' rows: their method names in capitals
SHIPPED = "shipped weights"  # the start of shipped_weights_rows' labels
BASELINES = (NOISY_INPUT, BM3D, TV)  # the rows every recipe is compared with
# every profile's target for a recipe's worst held-out photo (issue 8): no more than this many dB
# below BM3D (its target on the mean is the profile's, profiles.Profile.target_over_bm3d_db)
TARGET_WORST_PHOTO_DB = 0.5

# name -> (fraction of training pairs from dead leaves, augmentations; "valid" = all that keep the noise law)
RECIPES: dict[str, tuple[float, tuple[str, ...] | str]] = {
    REPORT_RECIPE: (0.0, ("dihedral",)),
    "photos + colour augmentation": (0.0, "valid"),
    "+ 25% dead leaves": (0.25, "valid"),
    "+ 50% dead leaves": (0.5, "valid"),
    "dead leaves only": (1.0, "valid"),
}


def recipe_setup(recipe: tuple[float, tuple[str, ...] | str], noise: str) -> tuple[float, tuple[str, ...]]:
    """A recipe of RECIPES' form as trained on `noise`: the fraction of training pairs from dead
    leaves (0-1) and the augmentations ("valid": those that keep `noise`'s law)."""
    mix, augment = recipe
    return mix, valid_augmentations(noise) if augment == "valid" else augment


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
    setups = [recipe_setup(recipe, noise) for recipe in recipes.values()]
    datasets = [load_dataset(dataset, noise=noise, n_train=n_train, n_val=n_val, seed=seed, mix_deadleaves=mix)
                for mix, _ in setups]
    per_recipe = len(seeds) or 1
    runs = [(name, mix, augment, data) for name, (mix, augment), data
            in zip(recipes, setups, datasets, strict=True) for _ in range(per_recipe)]
    configs = with_seeds([resunet_config(noise, base, augment=augment) for _, augment in setups], seeds)
    # one pass for all recipes and seeds where that is faster (n2n_utils.many): each has its own data
    results = train_many([data for *_, data in runs], configs)
    rows = []
    for (name, mix, augment, data), result in zip(runs, results, strict=True):
        rows += _per_photo(name, predict(result.model, data.val_input), data, seed=result.config.seed,
                           mix_deadleaves=mix, augment="+".join(augment), train_seconds=result.info["seconds"])
    return rows


def cross_validation_rows(k: int, noise: str, n_train: int, n_val: int, seed: int, base: TrainConfig,
                          recipe: str, selection: Sequence[str], n_tune: int,
                          methods: tuple[str, ...] = ("bm3d", "tv"), seeds: Sequence[int] = ()) -> list[dict]:
    """Leave-photos-out cross-validation of `recipe` (a name in RECIPES, the one chosen on the
    `selection` photos): for each of `photo_folds(k)`, a ResUNet is trained Noise2Noise with the
    recipe's content (dead leaves mixed in as recipe_rows does) and augmentation on the other
    photos (once per training seed of `seeds`; none: base.seed), and scored per held-out photo
    beside the noisy input and the classical methods (tuned on photo crops, as baseline_rows is in
    the notebook, whatever the recipe's mix) on the same crops. Every photo is held out
    exactly once, so each gets a score from a model that never saw it. The networks' rows are
    labelled with the recipe; each row's `selection` says whether its photo is one the recipe was
    chosen on, which must be fold 0's photos (photo_folds: the default split), else ValueError."""
    folds = photo_folds(k)
    if set(selection) != set(folds[0]):
        raise ValueError(f"the recipe was chosen on {sorted(selection)}, but fold 0 of {k} holds "
                         f"{sorted(folds[0])}: the cross-validation's other photos would not be fresh")
    if recipe not in RECIPES:
        raise ValueError(f"recipe {recipe!r}: choose one of {list(RECIPES)}")
    mix, augment = recipe_setup(RECIPES[recipe], noise)

    def load(holdout: tuple[str, ...], mix_deadleaves: float = 0.0) -> DenoisingData:
        return load_dataset("natural32", noise=noise, n_train=n_train, n_val=n_val, seed=seed, holdout=holdout,
                            mix_deadleaves=mix_deadleaves)

    datasets = [load(holdout) for holdout in folds]  # the classical methods tune on photo crops alone
    # the same photo pairs with dead leaves in some places (mix_in_deadleaves), and the same validation crops
    training = [load(holdout, mix) for holdout in folds] if mix else datasets
    per_fold = len(seeds) or 1
    configs = with_seeds([resunet_config(noise, base, augment=augment)], seeds) * len(folds)
    results = train_many([data for data in training for _ in range(per_fold)], configs)  # together where faster
    trained = {"mix_deadleaves": mix, "augment": "+".join(augment)}
    rows = []
    for fold, data in enumerate(datasets):
        fold_rows = baseline_rows(data, n_tune, methods)
        for result in results[fold * per_fold:(fold + 1) * per_fold]:
            model, run = result.model, {"seed": result.config.seed, **trained}
            fold_rows += _per_photo(recipe, predict(model, data.val_input), data, **run)
            fold_rows += _per_photo(f"{recipe}, {ENSEMBLE_LABEL}",
                                    predict(model, data.val_input, ensemble=ensemble_for(noise)), data, **run)
        rows += [{"fold": fold, "selection": row["photo"] in selection, **row}
                 for row in fold_rows if row["photo"] != "all"]
    return rows


def shipped_weights_rows(data: DenoisingData, name: str = DEFAULT_WEIGHTS) -> list[dict]:
    """Per-photo PSNR of shipped weights, plain and with the test-time ensemble, where they were
    trained for this data (the same dataset, noise and noise level) on none of its validation
    photos; otherwise no rows. They show what a larger training budget than the notebook's buys."""
    weights = read_weights(name)  # read once: the card decides, the same read builds the network
    card, meta = weights["card"], data.meta
    same_task = (card.get("data"), card.get("noise")) == (meta.get("name"), meta.get("noise")) and all(
        abs(card["noise_params"].get(k, math.nan) - v) < 1e-6 for k, v in meta.get("noise_params", {}).items())
    # cards made before holdout= existed do not list their photos: those used the default split
    trained_on = card.get("train_photos") or SPLITS["train"]
    if not same_task or set(trained_on) & set(data.val_groups or []):
        return []
    model = build_network(weights, weights_path(name), device="cpu")
    seen = images_seen(card)
    label = f"{SHIPPED} ({seen // 1000}k images seen)" if seen else SHIPPED
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


TEST_MEAN = "test-photo mean"  # cross_validation_table's mean over the photos no recipe was chosen on
MEANS = ("all", "photo mean", TEST_MEAN)  # the columns of the tables here that are no photo


def photos_of(row: pd.Series) -> list[str]:
    """The photos a row of the tables here scores (dB per photo): its columns but the method
    and the means over photos (MEANS)."""
    return [c for c in row.index if c not in ("method", *MEANS)]


def worst_photo(row: pd.Series) -> str:
    """The photo where `row` (dB per photo: a PSNR or a gap to BM3D) is lowest."""
    return min(photos_of(row), key=lambda p: row[p])


def cross_validation_table(rows: list[dict] | pd.DataFrame, selection: Sequence[str]) -> pd.DataFrame:
    """photo_mean_table of the cross-validation (dB), the `selection` photos (those the recipe was
    chosen on) first, and TEST_MEAN: the mean over the other photos, each weighing the same."""
    table = photo_mean_table(rows)
    photos = photos_of(table.iloc[0])
    test = [p for p in photos if p not in selection]
    table = table[[p for p in photos if p in selection] + test + ["photo mean"]]
    return table.assign(**{TEST_MEAN: table[test].mean(axis=1)})


def third_split_estimate(table: pd.DataFrame, recipe: str, selection: Sequence[str], method: str = BM3D) -> dict:
    """The held-out estimate of `recipe`, chosen on the `selection` photos: its mean gap to
    `method` (dB, positive: the network wins) over the cross-validation's other photos (the test
    photos), with the half-width of its 95% CI across them (metrics.mean_ci: each photo weighs
    the same; NaN for one photo). `table`: cross_validation_table or photo_mean_table, unrounded."""
    photos = photos_of(table.loc[recipe])
    test = [p for p in photos if p not in selection]
    mean, half = mean_ci(table.loc[recipe, test] - table.loc[method, test])
    return {"recipe": recipe, "selection_photos": [p for p in photos if p in selection], "test_photos": test,
            "against": method, "gap": mean, "gap_ci95": half}


def best_recipe(gap: pd.DataFrame, recipes: dict = RECIPES) -> str:
    """The recipe with the largest gap on all photos ('all', from gap_to)."""
    return str(gap.loc[[r for r in recipes if r in gap.index], "all"].idxmax())
