import pandas as pd

import n2n_utils.generalisation as gen
from n2n_utils.data import PHOTOS, load_dataset, photo_folds
from n2n_utils.generalisation import RECIPES, per_photo_table
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
    rows = gen.cross_validation_rows(k=2, noise="gaussian", n_train=32, n_val=60, seed=0,
                                     base=TrainConfig(epochs=1, progress=False), n_tune=2, methods=("tv",))
    frame = pd.DataFrame(rows)
    assert set(frame["photo"]) == set(PHOTOS)  # every photo held out, and scored, in some fold
    assert set(frame["method"]) == {"noisy input", "TV", "ResUNet N2N", "ResUNet N2N, test-time ensemble"}
    for _, group in frame.groupby("method"):
        assert group["photo"].is_unique  # each photo is held out in exactly one fold
    folds = frame.groupby("photo")["fold"].unique()
    assert all(len(f) == 1 for f in folds)
    assert set(frame.loc[frame["fold"] == 0, "photo"]) <= set(photo_folds(2)[0])
    table = gen.photo_mean_table(rows)
    assert table.columns[-1] == "photo mean"
    assert abs(table.loc["TV", "photo mean"] - table.drop(columns="photo mean").loc["TV"].mean()) < 1e-9
    noisy = table.loc["noisy input"].drop("photo mean")
    assert noisy.between(18, 23).all()  # sigma 25/255 on the held-out crops: about 20.5 dB
    assert (table.loc["TV"].drop("photo mean") > noisy).all()  # scored on the same crops
    assert not table.loc["ResUNet N2N"].equals(table.loc["ResUNet N2N, test-time ensemble"])


def test_shipped_weights_are_scored_only_on_data_they_never_saw(small_data):
    rows = pd.DataFrame(gen.shipped_weights_rows(small_data))
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
