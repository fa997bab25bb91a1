import dataclasses
import math

import pandas as pd
import pytest

import n2n_utils.generalisation as gen
from n2n_utils import weights
from n2n_utils.data import PHOTOS, load_dataset, photo_folds
from n2n_utils.generalisation import RECIPES, per_photo_table
from n2n_utils.metrics import mean_ci
from n2n_utils.training import TrainConfig


def test_per_photo_table_layout():
    rows = [{"method": m, "photo": p, "psnr": v}
            for m, base in [("noisy input", 20), ("BM3D", 29)]
            for p, v in [("flower", base), ("chelsea", base + 1), ("all", base + 0.5)]]
    table = per_photo_table(rows)
    assert list(table.index) == ["noisy input", "BM3D"]
    assert list(table.columns) == ["chelsea", "flower", "all"]
    assert table.loc["BM3D", "chelsea"] == 30


def test_recipes_get_their_content_and_augmentation(small_data, monkeypatch):
    calls = []

    def fake_load(dataset, noise, n_train, n_val, seed, mix_deadleaves):
        calls.append(("load", mix_deadleaves))
        return small_data

    class Result:
        model, info = None, {"seconds": 0.0}

        def __init__(self, config):
            self.config = config

    def fake_train_many(datasets, configs):
        calls.extend(("train", config.augment, config.loss, config.epochs) for config in configs)
        return [Result(config) for config in configs]

    monkeypatch.setattr(gen, "load_dataset", fake_load)
    monkeypatch.setattr(gen, "train_many", fake_train_many)
    monkeypatch.setattr(gen, "predict", lambda model, images: images.float() / 255)
    rows = gen.recipe_rows("natural32", "gaussian", 100, 10, 0, TrainConfig(epochs=2))
    loads = [c[1] for c in calls if c[0] == "load"]
    trains = [c[1:] for c in calls if c[0] == "train"]
    assert loads == [mix for mix, _ in RECIPES.values()]
    assert trains[0] == (("dihedral",), "mse", 2)
    assert all(set(t[0]) == {"dihedral", "channel_permutation", "inversion"} for t in trains[1:])
    frame = pd.DataFrame(rows)
    assert set(frame["method"]) == set(RECIPES)
    assert set(frame["photo"]) == {*small_data.val_groups, "all"}


def test_cross_validation_scores_every_photo_once_per_method():
    recipe, selection = "photos + colour augmentation", photo_folds(2)[0]
    rows = gen.cross_validation_rows(k=2, noise="gaussian", n_train=32, n_val=60, seed=0,
                                     base=TrainConfig(epochs=1, progress=False), recipe=recipe, selection=selection,
                                     n_tune=2, methods=("tv",))
    frame = pd.DataFrame(rows)
    assert set(frame["photo"]) == set(PHOTOS)  # every photo held out, and scored, in some fold
    # the networks' rows name the recipe they trained (was: "ResUNet N2N", whatever it was)
    assert set(frame["method"]) == {"noisy input", "TV", recipe, f"{recipe}, test-time ensemble"}
    for _, group in frame.groupby("method"):
        assert group["photo"].is_unique  # each photo is held out in exactly one fold
    folds = frame.groupby("photo")["fold"].unique()
    assert all(len(f) == 1 for f in folds)
    assert set(frame.loc[frame["fold"] == 0, "photo"]) <= set(selection)
    assert (frame["selection"] == frame["photo"].isin(selection)).all()  # fold 0's photos: the selection set
    table = gen.photo_mean_table(rows)
    assert table.columns[-1] == "photo mean"
    assert abs(table.loc["TV", "photo mean"] - table.drop(columns="photo mean").loc["TV"].mean()) < 1e-9
    noisy = table.loc["noisy input"].drop("photo mean")
    assert noisy.between(18, 23).all()  # sigma 25/255 on the held-out crops: about 20.5 dB
    assert (table.loc["TV"].drop("photo mean") > noisy).all()  # scored on the same crops
    assert not table.loc[recipe].equals(table.loc[f"{recipe}, test-time ensemble"])


def _record_cross_validation(monkeypatch, small_data):
    """Stand-ins for cross_validation_rows' data, training, scoring and baselines: each load's
    holdout and mix, and each training's datasets and configs, are recorded in the dict returned."""
    calls = {"loads": [], "datasets": [], "configs": [], "baselines": []}

    def fake_load(dataset, noise, n_train, n_val, seed, holdout, mix_deadleaves):
        calls["loads"].append((holdout, mix_deadleaves))
        return dataclasses.replace(small_data, meta={**small_data.meta, "holdout": holdout, "mix": mix_deadleaves})

    class Result:
        model, info = None, {"seconds": 0.0}

        def __init__(self, config):
            self.config = config

    def fake_train_many(datasets, configs):
        calls["datasets"].extend(datasets)
        calls["configs"].extend(configs)
        return [Result(config) for config in configs]

    monkeypatch.setattr(gen, "load_dataset", fake_load)
    monkeypatch.setattr(gen, "train_many", fake_train_many)
    monkeypatch.setattr(gen, "predict", lambda model, images, ensemble=None: images.float() / 255)
    monkeypatch.setattr(gen, "baseline_rows", lambda data, n_tune, methods: calls["baselines"].append(data) or [])
    return calls


def test_cross_validation_trains_the_chosen_recipe(small_data, monkeypatch):
    calls = _record_cross_validation(monkeypatch, small_data)
    base, folds = TrainConfig(epochs=2, lr=1e-3), photo_folds(4)
    rows = gen.cross_validation_rows(4, "gaussian", 100, 10, 0, base, "+ 25% dead leaves", folds[0], n_tune=1,
                                     seeds=(0, 1))
    # its dead leaves in every fold's training pairs; the classical methods tune on the photos alone
    assert [(d.meta["holdout"], d.meta["mix"]) for d in calls["datasets"]] == [(f, 0.25) for f in folds for _ in "ab"]
    assert [(d.meta["holdout"], d.meta["mix"]) for d in calls["baselines"]] == [(f, 0.0) for f in folds]
    assert len(calls["datasets"]) == len(calls["configs"]) == 8  # one network per fold and seed, as before
    assert [c.seed for c in calls["configs"]] == [0, 1] * 4
    for config in calls["configs"]:
        assert set(config.augment) == {"dihedral", "channel_permutation", "inversion"}  # its augmentation
        assert (config.loss, config.epochs, config.lr) == ("mse", 2, 1e-3)
    assert {row["method"] for row in rows} == {"+ 25% dead leaves", "+ 25% dead leaves, test-time ensemble"}
    assert {row["mix_deadleaves"] for row in rows} == {0.25}
    calls = _record_cross_validation(monkeypatch, small_data)
    gen.cross_validation_rows(2, "gaussian", 100, 10, 0, base, gen.REPORT_RECIPE, photo_folds(2)[0], n_tune=1)
    assert [mix for _, mix in calls["loads"]] == [0.0, 0.0]  # no mix: loaded once
    assert calls["datasets"] == calls["baselines"]
    assert all(config.augment == ("dihedral",) for config in calls["configs"])


def test_cross_validation_refuses_a_selection_that_is_not_fold_0(small_data, monkeypatch):
    calls = _record_cross_validation(monkeypatch, small_data)
    with pytest.raises(ValueError, match="chosen on.*fold 0"):
        gen.cross_validation_rows(2, "gaussian", 100, 10, 0, TrainConfig(epochs=1), gen.REPORT_RECIPE,
                                  ("astronaut",), n_tune=1)
    with pytest.raises(ValueError, match="recipe 'nope'"):
        gen.cross_validation_rows(2, "gaussian", 100, 10, 0, TrainConfig(epochs=1), "nope", photo_folds(2)[0],
                                  n_tune=1)
    assert not any(calls.values())  # refused before any work


def _cv_rows(gaps: dict[str, float], recipe: str = "recipe") -> list[dict]:
    """Cross-validation rows by hand: BM3D at 28 dB on every photo, `recipe` at 28 + gap."""
    return [{"method": m, "photo": photo, "psnr": 28.0 + (gap if m == recipe else 0.0)}
            for m in ("noisy input", "BM3D", recipe) for photo, gap in gaps.items()]


def test_third_split_leaves_out_the_photos_the_recipe_was_chosen_on():
    # chosen on "sel" (+5 dB there: the optimistic number); the other photos are -1 and -3 dB from BM3D
    rows = _cv_rows({"a": -1.0, "sel": 5.0, "b": -3.0})
    table = gen.cross_validation_table(rows, ["sel"])
    assert list(table.columns) == ["sel", "a", "b", "photo mean", gen.TEST_MEAN]  # the selection first
    assert table.loc["recipe", gen.TEST_MEAN] == pytest.approx(26.0)  # 28 + (-1 - 3) / 2
    assert table.loc["recipe", "photo mean"] == pytest.approx(28 + 1 / 3)  # every photo
    estimate = gen.third_split_estimate(table, "recipe", ["sel"])
    assert estimate["selection_photos"] == ["sel"] and estimate["test_photos"] == ["a", "b"]
    assert estimate["gap"] == pytest.approx(-2.0) and estimate["against"] == "BM3D"
    assert estimate["gap_ci95"] == pytest.approx(mean_ci([-1.0, -3.0])[1])  # each photo weighs the same
    assert gen.photos_of(table.loc["recipe"]) == ["sel", "a", "b"]  # the means are no photo
    one = gen.third_split_estimate(gen.cross_validation_table(_cv_rows({"a": -1.0, "sel": 5.0}), ["sel"]),
                                   "recipe", ["sel"])
    assert one["gap"] == pytest.approx(-1.0) and math.isnan(one["gap_ci95"])  # one photo: no CI, not 0


def test_shipped_weights_are_scored_only_on_data_they_never_saw(small_data, monkeypatch):
    reads, load = [], weights.load_checkpoint
    monkeypatch.setattr(weights, "load_checkpoint", lambda *a, **k: reads.append(a[0]) or load(*a, **k))
    rows = pd.DataFrame(gen.shipped_weights_rows(small_data))
    assert len(reads) == 1  # the card and the network from one read of the file (was: two)
    assert len(rows["method"].unique()) == 2 and rows["method"].str.startswith("shipped weights").all()
    scores = rows[rows["photo"] == "all"].set_index("method")["psnr"]
    assert (scores > 25).all()  # a working denoiser: the noisy input is at ~20.5 dB
    other_noise = load_dataset("natural32", noise="gaussian", sigma=50 / 255, n_train=8, n_val=8)
    assert gen.shipped_weights_rows(other_noise) == []
    seen = load_dataset("natural32", n_train=8, n_val=8, holdout=("astronaut",))  # a training photo
    assert gen.shipped_weights_rows(seen) == []


def test_baselines_are_scored_like_every_method_with_a_ci(small_data):
    """BM3D and TV rows come from the same per-photo scoring as the ResUNet's: with a CI (the
    error bars of Figure 8), and the same numbers as run_baseline's per-image PSNR."""
    from n2n_utils.classical import run_baseline

    rows = pd.DataFrame(gen.baseline_rows(small_data, n_tune=4, methods=("tv",)))
    tv = rows[rows["method"] == "TV"].set_index("photo")
    assert tv["ci95"].notna().all() and (tv.loc[tv["n"] > 1, "ci95"] > 0).all()
    direct = run_baseline("tv", small_data, n_tune=4)
    assert abs(tv.loc["all", "psnr"] - direct["psnr"]) < 1e-9
