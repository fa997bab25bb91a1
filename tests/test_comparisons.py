import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import n2n_utils.comparisons as comparisons  # noqa: E402
from n2n_utils.comparisons import learning_curve, resunet_config, subset  # noqa: E402
from n2n_utils.metrics import mean_ci, paired_gap  # noqa: E402
from n2n_utils.plots import plot_grouped_bars, plot_learning_curve  # noqa: E402
from n2n_utils.seeds import (  # noqa: E402
    CROP,
    N_SEEDS,
    PER_CROP,
    PHOTO,
    SEED,
    crop_scores,
    mean_over_seeds,
    split_per_crop,
)
from n2n_utils.training import TrainConfig  # noqa: E402


def test_recipe_per_noise():
    base = TrainConfig(epochs=2)
    assert resunet_config("gaussian", base).loss == "mse"
    assert set(resunet_config("gaussian", base).augment) == {"dihedral", "channel_permutation", "inversion"}
    assert resunet_config("impulse", base).loss == "l1"
    assert "inversion" not in resunet_config("poisson", base).augment
    assert resunet_config("gaussian", base, augment=()).augment == ()


def test_compared_noises_add_the_headline_noise_and_refuse_one_without_a_headline():
    # notebook 05 run with -p noise poisson in the smoke profile (gaussian, impulse) compared only
    # those two and failed at the headline, after every network had trained, with pandas'
    # "['noisy input', ...] not found in axis"
    assert comparisons.compared_noises(("gaussian", "impulse"), "poisson") == ("gaussian", "impulse", "poisson")
    assert comparisons.compared_noises(("gaussian", "impulse"), "impulse") == ("gaussian", "impulse")
    with pytest.raises(ValueError, match="'gaussian_blind': no classical method suits it.*gaussian, impulse"):
        comparisons.compared_noises(("gaussian",), "gaussian_blind")
    with pytest.raises(ValueError, match="unknown noise 'salt'"):
        comparisons.compared_noises(("gaussian",), "salt")
    with pytest.raises(ValueError, match="unknown noise 'salt'"):
        comparisons.compared_noises(("salt",), "gaussian")


def test_subset_keeps_validation(small_data):
    part = subset(small_data, 50)
    assert len(part.train_input) == len(part.train_clean) == 50 and part.meta["n_train"] == 50
    assert part.val_input is small_data.val_input


def test_learning_curve_uses_equal_steps(small_data, monkeypatch):
    seen = []

    class Result:
        def __init__(self, config):
            self.config = config

    def fake_train_many(datasets, configs):
        seen.extend((len(d.train_input), c.epochs, c.target, c.seed) for d, c in zip(datasets, configs, strict=True))
        return [Result(c) for c in configs]

    def fake_row(result, data, label):
        return {"method": label, "seed": result.config.seed, "psnr": 20.0, "psnr_ci95": 0.1}

    monkeypatch.setattr(comparisons, "train_many", fake_train_many)
    monkeypatch.setattr(comparisons, "scored_row", fake_row)
    rows = learning_curve(small_data, TrainConfig(epochs=2), (100, 400), images_seen=800)
    assert seen == [(100, 8, "noise2noise", 0), (100, 8, "noise2clean", 0), (400, 2, "noise2noise", 0),
                    (400, 2, "noise2clean", 0)]
    fig = plot_learning_curve(pd.DataFrame(rows))
    assert fig.axes[0].get_xlabel().startswith("training pairs")
    seen.clear()  # with seeds, every run once per seed, the same steps
    rows = learning_curve(small_data, TrainConfig(epochs=2), (100,), images_seen=800, seeds=(3, 4))
    assert seen == [(100, 8, "noise2noise", 3), (100, 8, "noise2noise", 4), (100, 8, "noise2clean", 3),
                    (100, 8, "noise2clean", 4)]
    assert [(r["target"], r["seed"]) for r in rows] == [("noise2noise", 3), ("noise2noise", 4),
                                                        ("noise2clean", 3), ("noise2clean", 4)]


def _scored(seeds=(0,)):
    """compare_methods-like rows on one noise, five crops, whose per-crop scores share how hard
    each crop is: noisy input, BM3D and TV without seeds, N2N and N2C once per seed."""
    hardness = np.array([24.0, 27.5, 30.0, 25.0, 28.0])
    methods = {comparisons.NOISY_INPUT: -6.0, "BM3D": 0.6, "TV": -0.4}
    rows = [{"noise": "gaussian", "method": m, "psnr": 0.0, PER_CROP: crop_scores(hardness + shift)}
            for m, shift in methods.items()]
    for seed in seeds:
        for method, shift in ((comparisons.N2N, 0.0), (comparisons.N2C, 0.1)):
            crops = hardness + shift + 0.05 * np.sin(np.arange(5) * (seed + 1 + shift))
            rows.append({"noise": "gaussian", "method": method, SEED: seed, "psnr": 0.0, PER_CROP: crop_scores(crops)})
    for row in rows:
        row["psnr"] = float(np.mean(row[PER_CROP]["psnr"]))
    summary, per_crop = split_per_crop(rows, ["noise", "method"])
    return mean_over_seeds(summary, ["noise", "method"]), per_crop


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_headline_gaps_are_paired_crop_by_crop_and_seed_by_seed(seeds):
    table, per_crop = _scored(seeds)
    top = comparisons.headline(table, per_crop=per_crop)
    n2n, n2c, bm3d = (comparisons.crop_matrix(per_crop, method=m).to_numpy()
                      for m in (comparisons.N2N, comparisons.N2C, "BM3D"))
    assert (top[comparisons.N2C_MINUS_N2N], top[f"{comparisons.N2C_MINUS_N2N}_ci95"]) == pytest.approx(
        paired_gap(n2c, n2n))
    assert top["best_classical"] == "BM3D" and (
        top[comparisons.N2N_MINUS_CLASSICAL], top[f"{comparisons.N2N_MINUS_CLASSICAL}_ci95"]) == pytest.approx(
        paired_gap(n2n, bm3d))  # BM3D, without seeds, paired with each seed of the network
    assert top[comparisons.N2C_MINUS_N2N] == pytest.approx(top["n2c"] - top["n2n"], abs=1e-4)
    # the crops' spread (6 dB) is shared: the paired CI is a small part of either row's own
    unpaired = mean_ci(per_crop[per_crop["method"] == comparisons.N2N]["psnr"])[1]
    assert top[f"{comparisons.N2C_MINUS_N2N}_ci95"] < unpaired / 10
    gaps = comparisons.paired_gaps(table, per_crop)
    assert gaps.set_index("noise").loc["gaussian", comparisons.N2C_MINUS_N2N] == top[comparisons.N2C_MINUS_N2N]
    assert comparisons.N2C_MINUS_N2N not in comparisons.headline(table)  # no per-crop scores: the gaps alone


def test_a_noise_without_classical_methods_has_no_gap_to_one():
    # gaussian_blind: no classical method suits it (classical.METHODS), so compare_methods gives it
    # the noisy input and the two networks only; the other noises' gaps, and its gap to clean
    # targets, are still paired (was: pandas' "attempt to get argmax of an empty sequence" for
    # every noise, headline's too)
    table, per_crop = _scored()
    blind = per_crop[per_crop["method"].isin([comparisons.NOISY_INPUT, comparisons.N2N, comparisons.N2C])]
    per_crop = pd.concat([per_crop, blind.assign(noise="gaussian_blind")], ignore_index=True)
    table = pd.concat([table, table[table["method"].isin(blind["method"])].assign(noise="gaussian_blind")],
                      ignore_index=True)
    gaps = comparisons.paired_gaps(table, per_crop).set_index("noise")
    assert gaps.loc["gaussian_blind", comparisons.N2C_MINUS_N2N] == gaps.loc["gaussian", comparisons.N2C_MINUS_N2N]
    assert pd.isna(gaps.loc["gaussian_blind", "best_classical"])
    assert np.isnan(gaps.loc["gaussian_blind", [comparisons.N2N_MINUS_CLASSICAL,
                                                f"{comparisons.N2N_MINUS_CLASSICAL}_ci95"]].astype(float)).all()
    assert gaps.loc["gaussian", "best_classical"] == "BM3D"
    assert comparisons.headline(table, "gaussian", per_crop)["best_classical"] == "BM3D"
    by_photo = comparisons.photo_gaps(table, per_crop.assign(**{PHOTO: "flower"}))
    assert by_photo[by_photo["noise"] == "gaussian_blind"]["gap"].tolist() == [comparisons.N2C_MINUS_N2N]
    with pytest.raises(ValueError, match="gaussian_blind: no classical method"):
        comparisons.headline(table, "gaussian_blind", per_crop)


def test_paired_refuses_scores_that_do_not_pair():
    _, per_crop = _scored((0, 1))
    other_seeds = per_crop.assign(**{SEED: per_crop[SEED] + 5 * (per_crop["method"] == comparisons.N2C)})
    with pytest.raises(ValueError, match=r"seeds \[5, 6\]"):
        comparisons.paired(other_seeds, {"method": comparisons.N2C}, {"method": comparisons.N2N})
    with pytest.raises(ValueError, match="a crop twice"):  # two methods' rows at once
        comparisons.paired(per_crop, {"noise": "gaussian"}, {"method": comparisons.N2N})
    fewer_crops = per_crop[(per_crop["method"] != "BM3D") | (per_crop[CROP] < 4)]
    with pytest.raises(ValueError, match="other crops"):
        comparisons.paired(fewer_crops, {"method": comparisons.N2N}, {"method": "BM3D"})
    with pytest.raises(ValueError, match="no per-crop scores"):
        comparisons.paired(per_crop, {"method": "NLM"}, {"method": "BM3D"})


def test_curve_gaps_pair_each_size():
    clean_over_noisy = {100: [0.5, 0.51, 0.52, 0.53], 400: [0.1, 0.11, 0.12, 0.13]}  # per crop, dB
    rows = [{"noise": "gaussian", "n_train": n, "target": target, SEED: 0, "psnr": 0.0,
             PER_CROP: crop_scores(np.arange(25.0, 29.0) + (np.array(gaps) if target == "noise2clean" else 0))}
            for n, gaps in clean_over_noisy.items() for target in ("noise2noise", "noise2clean")]
    _, per_crop = split_per_crop(rows, ["noise", "n_train", "target"])
    gaps = comparisons.curve_gaps(per_crop)
    assert gaps["n_train"].tolist() == [100, 400]
    assert gaps[comparisons.N2C_MINUS_N2N].tolist() == pytest.approx([0.515, 0.115])
    assert gaps[f"{comparisons.N2C_MINUS_N2N}_ci95"].tolist() == pytest.approx(
        [mean_ci(clean_over_noisy[100])[1]] * 2)


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_photo_gaps_give_each_headline_gap_per_photo_and_whether_its_sign_holds(seeds):
    table, per_crop = _scored(seeds)
    photos = np.array(["flower", "chelsea", "flower", "rocket", "chelsea"])  # crops 0-4
    per_crop = per_crop.assign(**{PHOTO: photos[per_crop[CROP]]})
    # Noise2Clean below Noise2Noise on rocket's crop alone (it is 0.1 dB above elsewhere)
    on_rocket = (per_crop["method"] == comparisons.N2C) & (per_crop[PHOTO] == "rocket")
    per_crop.loc[on_rocket, "psnr"] -= 0.5
    gaps = comparisons.photo_gaps(table, per_crop).set_index("gap")
    assert gaps.columns.tolist() == ["noise", "best_classical", "flower", "chelsea", "rocket", comparisons.SAME_SIGN]
    n2n, n2c, bm3d = (comparisons.crop_matrix(per_crop, method=m).to_numpy()
                      for m in (comparisons.N2N, comparisons.N2C, "BM3D"))
    for key, diff in ((comparisons.N2C_MINUS_N2N, n2c - n2n), (comparisons.N2N_MINUS_CLASSICAL, n2n - bm3d)):
        per_photo = [diff[:, photos == photo].mean() for photo in ("flower", "chelsea", "rocket")]
        assert gaps.loc[key, ["flower", "chelsea", "rocket"]].tolist() == pytest.approx(per_photo)
    assert gaps.loc[comparisons.N2C_MINUS_N2N, "rocket"] < 0 < gaps.loc[comparisons.N2C_MINUS_N2N, "flower"]
    assert not gaps.loc[comparisons.N2C_MINUS_N2N, comparisons.SAME_SIGN]
    assert gaps.loc[comparisons.N2N_MINUS_CLASSICAL, comparisons.SAME_SIGN]  # BM3D 0.6 dB above on every crop
    assert gaps.loc[comparisons.N2N_MINUS_CLASSICAL, "best_classical"] == "BM3D"
    with pytest.raises(ValueError, match="do not name their photos"):
        comparisons.photo_gaps(table, per_crop.drop(columns=PHOTO))


@pytest.mark.parametrize("seeds", [(0,), (0, 1)])
def test_ablation_gaps_pair_each_setting_with_no_augmentation(seeds):
    hardness = np.array([25.0, 28.0, 30.0, 24.0])  # per crop, shared by every setting
    over_none = {"dihedral": np.array([0.0, 0.02, -0.01, 0.03]), "all valid": np.array([0.8, 0.7, 0.9, 0.85])}
    rows = [{"noise": "gaussian", "augmentation": name, "method": f"N2N, {name}", SEED: seed, "psnr": 0.0,
             PER_CROP: crop_scores(hardness + over_none.get(name, 0) + 0.01 * seed * np.arange(4))}
            for name in ("all valid", comparisons.NO_AUGMENTATION, "dihedral") for seed in seeds]
    _, per_crop = split_per_crop(rows, ["noise", "augmentation", "method"])
    gaps = comparisons.ablation_gaps(per_crop)
    assert gaps["augmentation"].tolist() == ["all valid", "dihedral"]  # as run, no augmentation left out
    key = comparisons.SETTING_MINUS_NONE
    for _, row in gaps.iterrows():
        setting, none = (comparisons.crop_matrix(per_crop, augmentation=a).to_numpy()
                         for a in (row["augmentation"], comparisons.NO_AUGMENTATION))
        assert (row[key], row[f"{key}_ci95"]) == pytest.approx(paired_gap(setting, none))
        assert row[key] == pytest.approx(over_none[row["augmentation"]].mean()) and row[N_SEEDS] == len(seeds)


def test_comparison_plot_groups_methods():
    table = pd.DataFrame({"noise": ["gaussian", "gaussian", "impulse", "impulse"],
                          "method": ["noisy input", "BM3D", "noisy input", "median"],
                          "psnr": [20.5, 28.9, 14.3, 25.0], "psnr_ci95": [0.1, 0.3, 0.2, 0.4]})
    fig = plot_grouped_bars(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["gaussian", "impulse"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["noisy input", "BM3D", "median"]
    assert ax.get_ylabel() == "validation PSNR (dB)"


@pytest.mark.slow
def test_compare_methods_scores_every_suited_method(small_data):
    d = subset(small_data, 48)
    d.val_input, d.val_clean, d.val_groups = d.val_input[:6], d.val_clean[:6], d.val_groups[:6]
    rows = comparisons.compare_methods(d, TrainConfig(epochs=1, batch_size=16, progress=False), n_tune=4)
    methods = [r["method"] for r in rows]
    assert methods == [comparisons.NOISY_INPUT, "BM3D", "NLM", "TV", comparisons.N2N, comparisons.N2C]
    psnr = {r["method"]: r["psnr"] for r in rows}
    assert all(r["noise"] == "gaussian" and r["psnr_ci95"] > 0 and -1 < r["ssim"] <= 1 for r in rows)
    assert 18 < psnr[comparisons.NOISY_INPUT] < 23  # sigma 25/255: about 20.5 dB
    assert all(psnr[m] > psnr[comparisons.NOISY_INPUT] + 2 for m in ("BM3D", "NLM", "TV"))  # tuned: they denoise
    assert comparisons.headline(pd.DataFrame(rows))["best_classical"] == max(("BM3D", "NLM", "TV"), key=psnr.get)
    # each row keeps its score on every crop, with the crop's photo: the mean is the row's PSNR
    for row in rows:
        scores = row[PER_CROP]
        assert scores[CROP] == list(range(6)) and scores[PHOTO] == d.val_groups
        assert sum(scores["psnr"]) / 6 == pytest.approx(row["psnr"], abs=1e-4)
    summary, per_crop = split_per_crop(rows, ["noise", "method"])
    top = comparisons.headline(summary, per_crop=per_crop)
    assert top[comparisons.N2C_MINUS_N2N] == pytest.approx(top["n2c"] - top["n2n"], abs=1e-4)
    assert 0 < top[f"{comparisons.N2C_MINUS_N2N}_ci95"] < 10
