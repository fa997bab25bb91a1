import numpy as np
import pandas as pd
import pytest

import n2n_utils.comparisons as comparisons
from n2n_utils.gaps import (
    N2C_MINUS_N2N,
    N2N_MINUS_CLASSICAL,
    SAME_SIGN,
    SETTING_MINUS_NONE,
    ablation_gaps,
    crop_matrix,
    curve_gaps,
    headline,
    paired,
    paired_gaps,
    photo_gaps,
)
from n2n_utils.metrics import mean_ci, paired_gap
from n2n_utils.seeds import CROP, N_SEEDS, PER_CROP, PHOTO, SEED, crop_scores, mean_over_seeds, split_per_crop


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
    top = headline(table, per_crop=per_crop)
    n2n, n2c, bm3d = (crop_matrix(per_crop, method=m).to_numpy()
                      for m in (comparisons.N2N, comparisons.N2C, "BM3D"))
    assert (top[N2C_MINUS_N2N], top[f"{N2C_MINUS_N2N}_ci95"]) == pytest.approx(
        paired_gap(n2c, n2n))
    assert top["best_classical"] == "BM3D" and (
        top[N2N_MINUS_CLASSICAL], top[f"{N2N_MINUS_CLASSICAL}_ci95"]) == pytest.approx(
        paired_gap(n2n, bm3d))  # BM3D, without seeds, paired with each seed of the network
    assert top[N2C_MINUS_N2N] == pytest.approx(top["n2c"] - top["n2n"], abs=1e-4)
    # the crops' spread (6 dB) is shared: the paired CI is a small part of either row's own
    unpaired = mean_ci(per_crop[per_crop["method"] == comparisons.N2N]["psnr"])[1]
    assert top[f"{N2C_MINUS_N2N}_ci95"] < unpaired / 10
    gaps = paired_gaps(table, per_crop)
    assert gaps.set_index("noise").loc["gaussian", N2C_MINUS_N2N] == top[N2C_MINUS_N2N]
    assert N2C_MINUS_N2N not in headline(table)  # no per-crop scores: the gaps alone


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
    gaps = paired_gaps(table, per_crop).set_index("noise")
    assert gaps.loc["gaussian_blind", N2C_MINUS_N2N] == gaps.loc["gaussian", N2C_MINUS_N2N]
    assert pd.isna(gaps.loc["gaussian_blind", "best_classical"])
    assert np.isnan(gaps.loc["gaussian_blind", [N2N_MINUS_CLASSICAL,
                                                f"{N2N_MINUS_CLASSICAL}_ci95"]].astype(float)).all()
    assert gaps.loc["gaussian", "best_classical"] == "BM3D"
    assert headline(table, "gaussian", per_crop)["best_classical"] == "BM3D"
    by_photo = photo_gaps(table, per_crop.assign(**{PHOTO: "flower"}))
    assert by_photo[by_photo["noise"] == "gaussian_blind"]["gap"].tolist() == [N2C_MINUS_N2N]
    with pytest.raises(ValueError, match="gaussian_blind: no classical method"):
        headline(table, "gaussian_blind", per_crop)


def test_paired_refuses_scores_that_do_not_pair():
    _, per_crop = _scored((0, 1))
    other_seeds = per_crop.assign(**{SEED: per_crop[SEED] + 5 * (per_crop["method"] == comparisons.N2C)})
    with pytest.raises(ValueError, match=r"seeds \[5, 6\]"):
        paired(other_seeds, {"method": comparisons.N2C}, {"method": comparisons.N2N})
    with pytest.raises(ValueError, match="a crop twice"):  # two methods' rows at once
        paired(per_crop, {"noise": "gaussian"}, {"method": comparisons.N2N})
    fewer_crops = per_crop[(per_crop["method"] != "BM3D") | (per_crop[CROP] < 4)]
    with pytest.raises(ValueError, match="other crops"):
        paired(fewer_crops, {"method": comparisons.N2N}, {"method": "BM3D"})
    with pytest.raises(ValueError, match="no per-crop scores"):
        paired(per_crop, {"method": "NLM"}, {"method": "BM3D"})


def test_curve_gaps_pair_each_size():
    clean_over_noisy = {100: [0.5, 0.51, 0.52, 0.53], 400: [0.1, 0.11, 0.12, 0.13]}  # per crop, dB
    rows = [{"noise": "gaussian", "n_train": n, "target": target, SEED: 0, "psnr": 0.0,
             PER_CROP: crop_scores(np.arange(25.0, 29.0) + (np.array(gaps) if target == "noise2clean" else 0))}
            for n, gaps in clean_over_noisy.items() for target in ("noise2noise", "noise2clean")]
    _, per_crop = split_per_crop(rows, ["noise", "n_train", "target"])
    gaps = curve_gaps(per_crop)
    assert gaps["n_train"].tolist() == [100, 400]
    assert gaps[N2C_MINUS_N2N].tolist() == pytest.approx([0.515, 0.115])
    assert gaps[f"{N2C_MINUS_N2N}_ci95"].tolist() == pytest.approx(
        [mean_ci(clean_over_noisy[100])[1]] * 2)


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_photo_gaps_give_each_headline_gap_per_photo_and_whether_its_sign_holds(seeds):
    table, per_crop = _scored(seeds)
    photos = np.array(["flower", "chelsea", "flower", "rocket", "chelsea"])  # crops 0-4
    per_crop = per_crop.assign(**{PHOTO: photos[per_crop[CROP]]})
    # Noise2Clean below Noise2Noise on rocket's crop alone (it is 0.1 dB above elsewhere)
    on_rocket = (per_crop["method"] == comparisons.N2C) & (per_crop[PHOTO] == "rocket")
    per_crop.loc[on_rocket, "psnr"] -= 0.5
    gaps = photo_gaps(table, per_crop).set_index("gap")
    assert gaps.columns.tolist() == ["noise", "best_classical", "flower", "chelsea", "rocket", SAME_SIGN]
    n2n, n2c, bm3d = (crop_matrix(per_crop, method=m).to_numpy()
                      for m in (comparisons.N2N, comparisons.N2C, "BM3D"))
    for key, diff in ((N2C_MINUS_N2N, n2c - n2n), (N2N_MINUS_CLASSICAL, n2n - bm3d)):
        per_photo = [diff[:, photos == photo].mean() for photo in ("flower", "chelsea", "rocket")]
        assert gaps.loc[key, ["flower", "chelsea", "rocket"]].tolist() == pytest.approx(per_photo)
    assert gaps.loc[N2C_MINUS_N2N, "rocket"] < 0 < gaps.loc[N2C_MINUS_N2N, "flower"]
    assert not gaps.loc[N2C_MINUS_N2N, SAME_SIGN]
    assert gaps.loc[N2N_MINUS_CLASSICAL, SAME_SIGN]  # BM3D 0.6 dB above on every crop
    assert gaps.loc[N2N_MINUS_CLASSICAL, "best_classical"] == "BM3D"
    with pytest.raises(ValueError, match="do not name their photos"):
        photo_gaps(table, per_crop.drop(columns=PHOTO))


@pytest.mark.parametrize("seeds", [(0,), (0, 1)])
def test_ablation_gaps_pair_each_setting_with_no_augmentation(seeds):
    hardness = np.array([25.0, 28.0, 30.0, 24.0])  # per crop, shared by every setting
    over_none = {"dihedral": np.array([0.0, 0.02, -0.01, 0.03]), "all valid": np.array([0.8, 0.7, 0.9, 0.85])}
    rows = [{"noise": "gaussian", "augmentation": name, "method": f"N2N, {name}", SEED: seed, "psnr": 0.0,
             PER_CROP: crop_scores(hardness + over_none.get(name, 0) + 0.01 * seed * np.arange(4))}
            for name in ("all valid", comparisons.NO_AUGMENTATION, "dihedral") for seed in seeds]
    _, per_crop = split_per_crop(rows, ["noise", "augmentation", "method"])
    gaps = ablation_gaps(per_crop)
    assert gaps["augmentation"].tolist() == ["all valid", "dihedral"]  # as run, no augmentation left out
    key = SETTING_MINUS_NONE
    for _, row in gaps.iterrows():
        setting, none = (crop_matrix(per_crop, augmentation=a).to_numpy()
                         for a in (row["augmentation"], comparisons.NO_AUGMENTATION))
        assert (row[key], row[f"{key}_ci95"]) == pytest.approx(paired_gap(setting, none))
        assert row[key] == pytest.approx(over_none[row["augmentation"]].mean()) and row[N_SEEDS] == len(seeds)
