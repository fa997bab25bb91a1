import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

import n2n_utils.many as many
from n2n_utils.config import COMMITTED_RESULTS_DIR
from n2n_utils.data import DenoisingData
from n2n_utils.findings import sweep_finding
from n2n_utils.metrics import mean_ci
from n2n_utils.plots import plot_sweep
from n2n_utils.runs import with_defaults
from n2n_utils.sweeps import (
    HEX_COLUMNS,
    best_value,
    config_key,
    diverged_values,
    diverged_words,
    run_sweep,
    summarize,
    verdict,
)
from n2n_utils.training import TrainConfig

BASE = TrainConfig(epochs=1, batch_size=16, progress=False, eval_batch_size=64)


@pytest.fixture
def tiny(small_data):
    d = small_data
    return DenoisingData(d.train_input[:32], d.train_target[:32], d.val_input[:16], d.val_clean[:16],
                         meta=d.meta)


@pytest.fixture
def count_training(monkeypatch):
    calls = []
    real = many.train  # what train_many calls for each run trained one at a time (on a CPU: all)

    def counted(data, config, **options):
        calls.append((config.lr, config.seed))
        if getattr(counted, "fail_at", None) == len(calls):
            raise KeyboardInterrupt("simulated interruption")
        return real(data, config, **options)

    monkeypatch.setattr(many, "train", counted)
    return counted, calls


def test_sweep_rows_and_resumption(tiny, tmp_path, count_training):
    counted, calls = count_training
    csv = tmp_path / "lr.csv"
    counted.fail_at = 3  # the third run is interrupted
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tiny, "lr", [1e-3, 2e-3], [0, 1], BASE, csv, progress=False)
    assert len(pd.read_csv(csv)) == 2  # finished runs were saved
    counted.fail_at = None
    runs = run_sweep(tiny, "lr", [1e-3, 2e-3], [0, 1], BASE, csv, progress=False)
    assert len(calls) == 3 + 2  # only the two missing runs were trained again
    assert sorted(zip(runs["value"], runs["seed"], strict=True)) == [(1e-3, 0), (1e-3, 1), (2e-3, 0), (2e-3, 1)]
    for column in ["psnr", "seconds", "device", "git_commit", "finished", "n_train", "epochs"]:
        assert runs[column].notna().all(), column
    again = run_sweep(tiny, "lr", [1e-3, 2e-3], [0, 1], BASE, csv, progress=False)
    assert len(calls) == 5 and len(again) == 4
    # a different number of epochs is a different run
    run_sweep(tiny, "lr", [1e-3], [0], TrainConfig(**{**BASE.to_dict(), "epochs": 2}), csv, progress=False)
    assert len(calls) == 6


def test_a_run_that_diverges_is_a_row_and_the_sweep_goes_on(tiny, tmp_path, count_training):
    # was: the FloatingPointError ended the sweep (the full profile's lr grid reaches 6.4e-3)
    _, calls = count_training
    csv = tmp_path / "lr.csv"
    runs = run_sweep(tiny, "lr", [1e-3, 1e30], [0, 1], BASE, csv, progress=False)
    assert len(runs) == 4 and len(calls) == 4
    bad = runs[runs["value"] == 1e30]
    assert bad["psnr"].isna().all() and bad["final_train_loss"].isna().all()
    assert bad["diverged"].str.startswith("training diverged: non-finite").all()
    good = runs[runs["value"] == 1e-3]
    assert good["psnr"].notna().all() and (good["diverged"].fillna("") == "").all()  # no message
    assert len(run_sweep(tiny, "lr", [1e-3, 1e30], [0, 1], BASE, csv, progress=False)) == 4
    assert len(calls) == 4  # a diverged run is a result: not trained again
    summary = summarize(runs)
    assert summary["n_diverged"].tolist() == [0, 2] and summary["psnr_mean"].isna().tolist() == [False, True]
    assert best_value(summary) == 1e-3
    assert diverged_values(summary)["value"].tolist() == [1e30]
    assert sweep_finding(summary, "learning rate", 1e-3).endswith("Diverged: 1e+30 (2 of 2 runs).")
    plt.close(plot_sweep(summary, "learning rate", reference=1e-3))


def test_summarize_and_best():
    runs = pd.DataFrame({"value": [1, 1, 1, 2, 2, 2], "psnr": [20, 21, 22, 25, 25, 25],
                         "seconds": [1.0] * 6})
    summary = summarize(runs)
    assert summary["psnr_mean"].tolist() == [21, 25]
    assert summary["psnr_ci95"].iloc[0] == pytest.approx(4.302653 / 3**0.5, rel=1e-5)
    assert summary["psnr_ci95"].iloc[1] == 0 and summary["n_runs"].tolist() == [3, 3]
    assert best_value(summary) == 2


def test_unknown_sweep_parameter(tiny, tmp_path):
    with pytest.raises(ValueError, match="cannot sweep 'learning_rate'"):
        run_sweep(tiny, "learning_rate", [1e-3], [0], BASE, tmp_path / "x.csv")


def test_a_results_file_from_an_older_version_is_kept_aside_and_redone(tiny, tmp_path):
    csv = tmp_path / "lr.csv"
    old = pd.DataFrame([{"param": "lr", "value": 1e-3, "seed": 0, "psnr": 12.3}])  # no config_key
    old.to_csv(csv, index=False)
    with pytest.warns(UserWarning, match="older version"):
        runs = run_sweep(tiny, "lr", [1e-3], [0], BASE, csv, progress=False)
    assert len(runs) == 1 and runs["psnr"].iloc[0] != 12.3  # trained again
    kept = tmp_path / "lr.older-version.csv"
    assert kept.exists() and pd.read_csv(kept).equals(old)  # nothing lost


@pytest.mark.parametrize("digest", ["012345678901", "1234567e8901"])
def test_a_digest_that_reads_as_a_number_still_resumes(tiny, tmp_path, count_training, monkeypatch, digest):
    # hex digests of digits only (with a leading zero) or digits and one "e" make up about 0.5% of
    # them; pandas read them back as numbers (12345678901, inf), so no row matched: every run was
    # trained again and written twice
    import n2n_utils.sweeps as sweeps

    _, calls = count_training
    monkeypatch.setattr(sweeps, "config_key", lambda *args: digest)
    csv = tmp_path / "lr.csv"
    run_sweep(tiny, "lr", [1e-3], [0, 1], BASE, csv, progress=False)
    again = run_sweep(tiny, "lr", [1e-3], [0, 1], BASE, csv, progress=False)
    assert len(calls) == 2 and len(again) == 2 and len(pd.read_csv(csv)) == 2


def _summary_with(psnr: dict) -> pd.DataFrame:
    """summarize's table of two seeds per value, PSNR as given per value (NaN: that run diverged)."""
    return summarize(pd.DataFrame([{"value": v, "seed": s, "psnr": p[s], "seconds": 1.0}
                                   for v, p in psnr.items() for s in (0, 1)]))


def test_the_chosen_value_that_diverged_is_said_so_not_a_nan_gap():
    # was: "0.004 is nan dB below the best, ..., outside the confidence intervals"
    nan = float("nan")
    summary = _summary_with({1e-3: [25.0, 25.2], 4e-3: [24.0, nan]})
    v = verdict(summary, 4e-3)
    assert v["best"] == 1e-3 and v["diverged"] and not v["tied"]
    assert not verdict(summary, 1e-3)["diverged"]
    found = sweep_finding(summary, "learning rate", 4e-3)
    assert "nan" not in found
    assert found == ("The report's learning rate does not hold at this budget: 0.004 diverged; the best is "
                     "0.001 (25.10 ± 1.27 dB). Diverged: 0.004 (1 of 2 runs).")


def test_a_value_with_a_diverged_seed_keeps_the_mean_of_the_others_and_is_never_the_best():
    # was: 1 diverged seed of 3 hid the mean of the 2 that finished (NaN), in the table, the figure and the report
    nan = float("nan")
    runs = pd.DataFrame({"value": [1e-3] * 3 + [4e-3] * 3, "seed": [0, 1, 2] * 2,
                         "psnr": [25.0, 25.2, 25.1, 26.0, 26.4, nan], "seconds": [1.0] * 6})
    summary = summarize(runs)
    at = summary.set_index("value").loc[4e-3]
    assert (at["psnr_mean"], at["psnr_ci95"]) == pytest.approx(mean_ci([26.0, 26.4]))
    assert (at["n_runs"], at["n_diverged"]) == (3, 1)
    assert best_value(summary) == 1e-3  # 4e-3 scores higher on the runs that finished, but one did not
    v = verdict(summary, 4e-3)
    assert v["diverged"] and not v["tied"] and v["gap"] == pytest.approx(25.1 - 26.2)
    assert diverged_words(diverged_values(summary)) == "0.004 (1 of 3 runs)"
    assert sweep_finding(summary, "learning rate", 4e-3).endswith("Diverged: 0.004 (1 of 3 runs).")


def test_a_sweep_whose_every_value_diverged_has_no_best_and_says_so():
    # was: pandas' "Encountered all NA values" from idxmax, ending notebook 02 without naming the cause
    nan = float("nan")
    summary = _summary_with({1e-3: [25.0, nan], 4e-3: [nan, nan]})
    with pytest.raises(ValueError, match=r"^no swept value has all its runs finished: every one had a run that "
                                         r"diverged \(0.001: 1 of 2 runs, 0.004: 2 of 2 runs\)"):
        best_value(summary)
    for each in (lambda: verdict(summary, 1e-3), lambda: plot_sweep(summary, "learning rate")):
        with pytest.raises(ValueError, match="every one had a run that diverged"):
            each()


@pytest.mark.parametrize("sweep", ["batch_size_sweep", "lr_sweep"])
def test_the_committed_sweeps_keep_their_config_key(sweep):
    # their rows are reused only while config_key gives the same key for the base and data
    # they record (runs.data_identity must leave natural32's meta as it is)
    record = json.loads((COMMITTED_RESULTS_DIR / "quick" / f"{sweep}.json").read_text())
    rows = pd.read_csv(COMMITTED_RESULTS_DIR / "quick" / f"{sweep}.csv", dtype=HEX_COLUMNS)
    base = TrainConfig(**with_defaults(record["base_config"]))
    assert set(rows.config_key) == {config_key(base, record["param"], record["data"])}


def test_a_sweeps_recorded_best_psnr_is_its_best_values(tmp_path, monkeypatch):
    # was: the highest mean of all, that of a value whose other seed diverged, beside best = another value
    from types import SimpleNamespace

    from n2n_utils import notebooks
    from n2n_utils.profiles import OutputDirs, get_profile
    from n2n_utils.runs import REPORT_LR

    nan = float("nan")
    runs = pd.DataFrame({"value": [REPORT_LR, REPORT_LR, 2 * REPORT_LR, 2 * REPORT_LR], "seed": [0, 1] * 2,
                         "psnr": [25.0, 25.2, 27.0, nan], "seconds": [1.0] * 4})
    monkeypatch.setattr(notebooks, "run_sweep", lambda *args, **kwargs: runs)
    dirs = OutputDirs(tmp_path / "figures", tmp_path / "results", tmp_path / "runs")
    for folder in (dirs.figures, dirs.results):
        folder.mkdir()
    notebooks.study_sweep("lr", SimpleNamespace(meta={}), get_profile("smoke"), dirs, {"profile": "smoke"})
    written = json.loads((dirs.results / "lr_sweep.json").read_text())
    assert (written["best"], written["best_psnr"]) == (REPORT_LR, pytest.approx(25.1))


def test_a_value_with_one_finished_run_shows_no_ci_anywhere(tmp_path):
    # was: 2 of 3 seeds diverged, and the one that finished showed a 95% CI of 0.00 dB (an error
    # bar of zero length in the figure, "0.00" in the drift table; the report's table: test_report)
    from n2n_utils.drift import format_drift

    nan = float("nan")
    runs = pd.DataFrame({"value": [1e-3] * 3 + [4e-3] * 3, "seed": [0, 1, 2] * 2,
                         "psnr": [25.0, 25.2, 25.1, 26.0, nan, nan], "seconds": [1.0] * 6})
    summary = summarize(runs)
    at = summary.set_index("value").loc[4e-3]
    assert at["psnr_mean"] == 26.0 and pd.isna(at["psnr_ci95"]) and at["n_diverged"] == 2
    ax = plot_sweep(summary, "learning rate").axes[0]
    bars = next(c for c in ax.containers if hasattr(c, "has_yerr"))[2][0].get_segments()
    assert len(bars[0]) == 2 and len(bars[1]) == 0  # a bar at 0.001, none at 0.004
    assert "one run finished: no CI" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")
    drift = pd.DataFrame([{"number": "x", "committed": 26.0, "reproduced": 26.1, "difference": 0.1,
                           "ci95": at["psnr_ci95"], "inside": ""}])
    assert "| n/a " in format_drift(drift) and "0.00" not in format_drift(drift)


def test_one_seed_per_value_cannot_judge_the_reports_value():
    # was: a one-seed sweep gave CIs of 0, so any gap read "outside the confidence intervals"
    summary = summarize(pd.DataFrame({"value": [1e-3, 4e-3], "seed": [0, 0], "psnr": [25.0, 24.9],
                                      "seconds": [1.0, 1.0]}))
    v = verdict(summary, 4e-3)
    assert v["tied"] is None and not v["diverged"] and verdict(summary, 1e-3)["tied"] is True
    found = sweep_finding(summary, "learning rate", 4e-3)
    assert found == ("Whether the report's learning rate holds cannot be judged at this budget: 0.004 is 0.10 dB "
                     "below the best, 0.001 (25.00 dB, one run: no CI), and one run gives no confidence interval.")
    assert "nan" not in sweep_finding(summary, "learning rate", 1e-3)
