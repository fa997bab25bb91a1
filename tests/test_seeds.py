"""Several seeds: the full profile trains every network of notebooks 01, 05 and 06 three times;
the tables keep each run (with its seed) and their mean with a 95% CI across seeds."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from n2n_utils.comparisons import augmentation_ablation, subset  # noqa: E402
from n2n_utils.gaps import crop_matrix  # noqa: E402
from n2n_utils.metrics import mean_ci  # noqa: E402
from n2n_utils.plots import plot_training_curves  # noqa: E402
from n2n_utils.profiles import PROFILES  # noqa: E402
from n2n_utils.seeds import (  # noqa: E402
    CROP,
    N_SEEDS,
    PER_CROP,
    PER_CROP_SUFFIX,
    PHOTO,
    SEED,
    crop_scores,
    mean_over_seeds,
    run_seeds,
    write_seed_tables,
)
from n2n_utils.training import TrainConfig  # noqa: E402


def test_profiles_say_how_many_seeds():
    assert run_seeds(PROFILES["full"], 0) == (0, 1, 2)
    assert run_seeds(PROFILES["full"], 5) == (5, 6, 7)
    assert run_seeds(PROFILES["quick"], 3) == run_seeds(PROFILES["smoke"], 3) == (3,)  # the committed results' one


def test_mean_over_seeds_averages_runs_and_keeps_single_rows():
    runs = pd.DataFrame([
        {"noise": "gaussian", "method": "noisy input", "psnr": 20.5, "psnr_ci95": 0.1, "ssim": 0.4, "params": ""},
        *({"noise": "gaussian", "method": "N2N", SEED: s, "psnr": p, "psnr_ci95": 0.2, "ssim": q, "params": "x"}
          for s, p, q in [(0, 30.0, 0.80), (1, 31.0, 0.90), (2, 32.5, 0.85)]),
        {"noise": "impulse", "method": "noisy input", "psnr": 14.0, "psnr_ci95": 0.3, "ssim": 0.2, "params": ""},
    ])
    summary = mean_over_seeds(runs, ["noise", "method"])
    assert list(zip(summary["noise"], summary["method"], strict=True)) == [
        ("gaussian", "noisy input"), ("gaussian", "N2N"), ("impulse", "noisy input")]  # first appearance
    assert SEED not in summary.columns and summary[N_SEEDS].tolist() == [1, 3, 1]
    n2n = summary.iloc[1]
    mean, half = mean_ci([30.0, 31.0, 32.5])
    assert n2n["psnr"] == pytest.approx(mean) and n2n["psnr_ci95"] == pytest.approx(half)  # across seeds
    assert half == pytest.approx(4.303 * 1.2583 / 3 ** 0.5, rel=1e-3)  # t(0.975, 2) * sd / sqrt(3)
    assert n2n["ssim"] == pytest.approx(0.85) and n2n["params"] == "x"
    single = summary.iloc[[0, 2]].drop(columns=N_SEEDS).reset_index(drop=True)
    pd.testing.assert_frame_equal(single, runs.iloc[[0, 4]].drop(columns=SEED).reset_index(drop=True),
                                  check_dtype=False)  # one run: its row, its CI (across crops) unchanged


@pytest.mark.slow
def test_two_seeds_through_the_package(small_data, tmp_path):
    """A profile with two seeds at a tiny size: the ablation trains each variant once per seed,
    the runs table keeps them apart, the summary is their mean with a CI across them, and the
    first seed's run is the run a one-seed profile makes."""
    prof = dataclasses.replace(PROFILES["smoke"], n_seeds=2)
    data = subset(small_data, 8)  # one step at batch 8
    data = dataclasses.replace(data, val_input=data.val_input[:6], val_clean=data.val_clean[:6],
                               val_groups=data.val_groups and data.val_groups[:6])
    base = TrainConfig(epochs=1, batch_size=8, precision="fp32", progress=False)
    seeds = run_seeds(prof, base.seed)
    rows = augmentation_ablation(data, base, seeds)
    assert [(r["augmentation"], r[SEED]) for r in rows] == [(a, s) for a in ("none", "dihedral", "all valid")
                                                              for s in (0, 1)]
    keys = ["noise", "augmentation", "method"]
    summary = write_seed_tables(tmp_path, "augmentation_ablation", rows, keys, {"profile": "test"})
    written = pd.read_csv(tmp_path / "augmentation_ablation_seeds.csv")
    assert len(written) == 6 and written[SEED].tolist() == [0, 1] * 3
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "augmentation_ablation.csv"), summary, check_dtype=False)
    assert summary["augmentation"].tolist() == ["none", "dihedral", "all valid"] and (summary[N_SEEDS] == 2).all()
    for (_, runs), (_, row) in zip(written.groupby(keys, sort=False), summary.iterrows(), strict=True):
        assert runs["psnr"].nunique() == 2  # two networks, not one counted twice
        mean, half = mean_ci(runs["psnr"])
        assert row["psnr"] == pytest.approx(mean) and row["psnr_ci95"] == pytest.approx(half) and half > 0
    one_seed = augmentation_ablation(data, base, run_seeds(PROFILES["smoke"], base.seed))
    assert [r["psnr"] for r in one_seed] == pytest.approx([r["psnr"] for r in rows if r[SEED] == 0], abs=1e-9)


def test_training_curves_of_several_seeds_show_their_mean_and_ci():
    history = pd.DataFrame([{"epoch": e, SEED: s, "train_loss": 0.01 * (4 - e) + 0.001 * s,
                             "val_psnr": 25.0 + e + 0.1 * s} for s in (0, 1, 2) for e in (1, 2, 3)])
    fig = plot_training_curves(history, noisy_psnr=20.0)
    ax_loss, ax_psnr = fig.axes
    (bars,) = ax_psnr.containers  # the mean per epoch, with its CI across seeds as error bars
    assert bars.lines[0].get_ydata().tolist() == pytest.approx([26.1, 27.1, 28.1])
    (segments,) = bars.lines[2]
    half = mean_ci([25.0 + 1, 25.1 + 1, 25.2 + 1])[1]
    assert [seg[1, 1] - seg[0, 1] for seg in segments.get_segments()] == pytest.approx([2 * half] * 3)
    assert len(ax_loss.containers) == 1
    assert "ResUNet, mean of 3 seeds, 95% CI" in [t.get_text() for t in ax_psnr.get_legend().get_texts()]
    one = plot_training_curves(history[history[SEED] == 0], noisy_psnr=20.0)
    assert one.axes[1].lines[0].get_ydata().tolist() == pytest.approx([26.0, 27.0, 28.0])
    assert not one.axes[1].containers  # one run: no error bars


def test_per_crop_scores_are_written_apart_and_read_back(tmp_path):
    photos = ["chelsea", "flower", "chelsea"]
    runs = [{"noise": "gaussian", "method": "noisy input", "psnr": 20.5, PER_CROP: crop_scores([20.1, 21.0, 20.4],
                                                                                              photos)},
            *({"noise": "gaussian", "method": "N2N", SEED: s, "psnr": 27.0 + s,
               PER_CROP: crop_scores([26.91234567 + s, 27.0 + s, 27.1 + s], photos)} for s in (0, 1))]
    summary = write_seed_tables(tmp_path, "comparisons", runs, ["noise", "method"], {"profile": "test"})
    assert PER_CROP not in summary and PER_CROP not in pd.read_csv(tmp_path / "comparisons_seeds.csv")
    written = pd.read_csv(tmp_path / f"comparisons{PER_CROP_SUFFIX}.csv")
    assert list(written.columns) == ["noise", "method", SEED, CROP, PHOTO, "psnr"]
    assert len(written) == 9 and written[PHOTO].tolist() == photos * 3 and written[CROP].tolist() == [0, 1, 2] * 3
    assert written[SEED].isna().sum() == 3 and written[SEED].dropna().tolist() == [0, 0, 0, 1, 1, 1]
    assert written["psnr"].iloc[3] == 26.9123  # to 1e-4 dB, enough for means shown to 0.01 dB
    assert (tmp_path / f"comparisons{PER_CROP_SUFFIX}.provenance.json").exists()
    # read back, the scores pair as they were scored: crop by crop, seed by seed
    n2n = crop_matrix(written, method="N2N")
    assert list(n2n.index) == [0, 1]
    np.testing.assert_allclose(n2n.to_numpy(), [[26.9123, 27.0, 27.1], [27.9123, 28.0, 28.1]])
    np.testing.assert_allclose(crop_matrix(written, method="noisy input").to_numpy(), [[20.1, 21.0, 20.4]])
    # tables whose runs carry none (notebooks 01 and 06) get no such file
    write_seed_tables(tmp_path, "other", [{k: v for k, v in r.items() if k != PER_CROP} for r in runs],
                      ["noise", "method"], {"profile": "test"})
    assert not (tmp_path / f"other{PER_CROP_SUFFIX}.csv").exists()
