"""The pipeline's own logic, without the study's notebooks: the cost model, epoch sizing,
progress, drift, and `_execute`/`run_pipeline` on stub notebooks written to a tmp folder."""

import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from n2n_utils import estimate, pipeline
from n2n_utils.config import COMMITTED_RESULTS_DIR
from n2n_utils.drift import HEADLINES, drift_table, format_drift
from n2n_utils.estimate import (
    Calibration,
    Progress,
    Work,
    calibrate,
    estimate_seconds,
    measure_images_per_s,
    notebook_work,
    size_epochs,
)
from n2n_utils.profiles import PROFILES, OutputDirs, get_profile, with_epochs
from n2n_utils.runs import REPORT_LR

QUICK = PROFILES["quick"]


def test_work_counts_each_notebooks_training():
    work = notebook_work(QUICK)
    assert list(work) == pipeline.NOTEBOOKS
    assert work["01_train_resunet.ipynb"].train_images == 8_000 * 4
    assert work["02_learning_rate_sweep.ipynb"].train_images == 6 * 3 * 1_200 * 3
    # 4 noises x (N2N + N2C), 3 ablation runs, the curve's 500 x 9 and 4,500 x 1 pairs for 2 targets
    assert work["05_comparisons.ipynb"] == Work(8 * 4_500 + 3 * 4_500 + 2 * (4_500 + 4_500), 2 * (3 * 20 + 100))
    # 5 recipes and 4 folds; BM3D on the default split and on each fold
    assert work["06_generalisation.ipynb"] == Work(9 * 4_500, (60 + 100) + 4 * (60 + 60))
    assert work["00_data_exploration.ipynb"] == work["04_predictions.ipynb"] == Work()
    # a folder of photos has no cross-validation; impulse noise no BM3D
    assert notebook_work(QUICK, dataset="/photos")["06_generalisation.ipynb"].train_images == 5 * 4_500
    assert notebook_work(QUICK, noise="impulse")["06_generalisation.ipynb"].bm3d_crops == 0


def test_work_counts_the_noise_notebook_05_adds_to_the_profiles():
    two = dataclasses.replace(QUICK, cmp_noises=("gaussian", "impulse"))
    base = notebook_work(two)["05_comparisons.ipynb"]
    # --noise poisson: notebook 05 compares it too (comparisons.compared_noises), N2N + N2C, and BM3D suits it
    added = notebook_work(two, noise="poisson")["05_comparisons.ipynb"]
    assert added.train_images - base.train_images == QUICK.n_seeds * 2 * QUICK.cmp_n_train * QUICK.cmp_epochs
    assert added.bm3d_crops - base.bm3d_crops == QUICK.cmp_n_tune * 3 + QUICK.cmp_n_val
    assert notebook_work(two, noise="impulse")["05_comparisons.ipynb"] == base  # already among them
    # a noise without a headline skips notebook 05 (pipeline.left_out); the others are still counted
    blind = notebook_work(two, noise="gaussian_blind")
    assert blind["01_train_resunet.ipynb"] == notebook_work(two)["01_train_resunet.ipynb"]


def test_calibration_gives_back_the_run_it_was_made_from():
    work = notebook_work(QUICK)
    seconds = {"00_data_exploration.ipynb": 7.0, "01_train_resunet.ipynb": 200.0, "02_learning_rate_sweep.ipynb": 400.0,
               "03_batch_size_sweep.ipynb": 300.0, "04_predictions.ipynb": 9.0, "05_comparisons.ipynb": 450.0,
               "06_generalisation.ipynb": 410.0, "07_explore.ipynb": 300.0}
    record = {"profile": "quick", "measured": {"images_per_s": 150.0, "bm3d_s": 0.3},
              "notebooks": [{"notebook": n, "seconds": s, "train_images": work[n].train_images,
                             "bm3d_crops": work[n].bm3d_crops} for n, s in seconds.items()]}
    calibration = calibrate(record)
    back = estimate_seconds(work, 150.0, 0.3, calibration)
    assert back == pytest.approx(seconds, abs=1e-6)
    # twice as fast a machine: training takes half as long, startup and BM3D the same
    faster = estimate_seconds(work, 300.0, 0.3, calibration)
    sweep = "02_learning_rate_sweep.ipynb"
    assert faster[sweep] == pytest.approx(estimate.STARTUP_S + (400.0 - estimate.STARTUP_S) / 2)
    assert faster["04_predictions.ipynb"] == pytest.approx(9.0)


def test_rows_carried_from_a_legacy_record_keep_the_legacy_speed(tmp_path):
    # a record older than `measured`: no speed, no work of its own; a rerun of another notebook
    # carries its rows ("measured": None) into a record that has this run's (much faster) speed
    legacy = {"profile": "quick", "dataset": "natural32", "noise": "gaussian", "seed": 0, "git_commit": "84a1f99",
              "notebooks": [{"notebook": "01_train_resunet.ipynb", "seconds": 300.0}]}
    (tmp_path / "pipeline.json").write_text(json.dumps(legacy))
    carried = pipeline.carried_rows(tmp_path / "pipeline.json", legacy)
    assert carried[0]["measured"] is None
    rerun = {**legacy, "measured": {"images_per_s": 10 * estimate.LEGACY_IMAGES_PER_S, "bm3d_s": 0.2},
             "notebooks": carried}
    name = "01_train_resunet.ipynb"
    assert calibrate(rerun).factor[name] == pytest.approx(calibrate(legacy).factor[name])


def test_seeds_multiply_training_and_workers_divide_bm3d():
    one, three = notebook_work(QUICK), notebook_work(dataclasses.replace(QUICK, n_seeds=3))
    for name in one:
        seeded = name in ("01_train_resunet.ipynb", "05_comparisons.ipynb", "06_generalisation.ipynb")
        assert three[name].train_images == (3 if seeded else 1) * one[name].train_images, name
        assert three[name].bm3d_crops == one[name].bm3d_crops  # the seeds share the data: BM3D runs once
    none = Calibration({}, {}, "")
    serial = estimate_seconds(one, 150.0, 0.3, none)
    pooled = estimate_seconds(one, 150.0, 0.3, none, workers=4)
    for name, w in one.items():
        # notebook 07 denoises whole photos one call each: its BM3D stays on one core
        saved = 0.0 if name in estimate.ONE_CORE_BM3D else w.bm3d_crops * 0.3 * 3 / 4
        assert serial[name] - pooled[name] == pytest.approx(saved), name
    # a run made with a pool calibrates back to its own times when estimated with the same pool
    seconds = {n: s + 60.0 for n, s in pooled.items()}
    record = {"profile": "quick", "measured": {"images_per_s": 150.0, "bm3d_s": 0.3, "classical_workers": 4},
              "notebooks": [{"notebook": n, "seconds": s, "train_images": one[n].train_images,
                             "bm3d_crops": one[n].bm3d_crops} for n, s in seconds.items()]}
    assert estimate_seconds(one, 150.0, 0.3, calibrate(record), workers=4) == pytest.approx(seconds)


def test_committed_quick_record_calibrates_within_its_own_times():
    record = json.loads((COMMITTED_RESULTS_DIR / "quick" / "pipeline.json").read_text())
    calibration = calibrate(record)
    work = {row["notebook"]: Work(row["train_images"], row["bm3d_crops"]) if "train_images" in row
            else notebook_work(QUICK)[row["notebook"]] for row in record["notebooks"]}
    for row in record["notebooks"]:
        # a row carried from an earlier run (a rerun of some notebooks) has that run's speed; a
        # record older than this module has no speed or work of its own: the legacy speed applies
        measured = ((row["measured"] if "measured" in row else record.get("measured"))
                    or {"images_per_s": estimate.LEGACY_IMAGES_PER_S})
        name = row["notebook"]
        back = estimate_seconds({name: work[name]}, measured["images_per_s"],
                                measured.get("bm3d_s") or estimate.LEGACY_BM3D_S, calibration,
                                measured.get("classical_workers", 1))  # BM3D over the run's workers
        assert back[name] == pytest.approx(row["seconds"], abs=0.5)
    training = [calibration.factor[n] for n, w in work.items() if w.train_images]
    assert 0.5 < min(training) <= max(training) < 2  # training's overheads: validation, data, other batches
    whole_photos = [calibration.factor[n] for n, w in work.items() if not w.train_images and w.bm3d_crops]
    assert all(0.1 < f < 1 for f in whole_photos)  # BM3D on whole photos: less a pixel than on crops


def test_size_epochs_fits_the_budget_with_one_factor():
    full, names = PROFILES["full"], pipeline.NOTEBOOKS
    rate, bm3d_s, none = 20_000.0, 0.01, Calibration({}, {}, "")

    def total(epochs):
        return sum(estimate_seconds(notebook_work(with_epochs(full, epochs)), rate, bm3d_s, none).values())

    at_profile = total({})
    for budget in (0.5 * at_profile, 2.0 * at_profile):
        epochs = size_epochs(full, budget, names, rate, bm3d_s, none)
        assert total(epochs) <= budget
        grown = {f: e + 1 for f, e in epochs.items()}
        assert total(grown) > budget  # no whole epoch left unused everywhere
        ratios = [epochs[f] / getattr(full, f) for f in epochs]
        assert max(ratios) - min(ratios) < 0.5  # one factor, rounded down
    assert size_epochs(full, 1.0, names, rate, bm3d_s, none) == {"epochs": 1, "sweep_epochs": 1, "cmp_epochs": 1}
    only_01 = size_epochs(full, 600.0, ["01_train_resunet.ipynb"], rate, bm3d_s, none)
    assert only_01 == {"epochs": math.floor((600.0 - estimate.STARTUP_S) * rate / (3 * 50_000)),  # 3 seeds
                       "sweep_epochs": full.sweep_epochs, "cmp_epochs": full.cmp_epochs}  # not run: kept


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_sized_epochs_never_overshoot_the_budget(profile):
    """Training that does not grow with the epochs (a notebook's fixed-size runs) counts as
    fixed time: the sized run fits its budget in every profile (was: smoke 1% over it, and the
    plan warned 'over the budget even at these epochs ... never goes below one epoch each' at
    thousands of epochs)."""
    prof, names, rate, bm3d_s = PROFILES[profile], pipeline.NOTEBOOKS, 30.0, 0.3
    calibration = estimate.load_calibration()

    def total(epochs):
        work = notebook_work(with_epochs(prof, epochs))
        return sum(estimate_seconds(work, rate, bm3d_s, calibration, 2).values())

    for budget in (3.0 * total({}), 1000.0 * total({})):
        assert total(size_epochs(prof, budget, names, rate, bm3d_s, calibration, workers=2)) <= budget


def test_size_epochs_fits_the_budget_with_a_calibrated_factor():
    # was: the part that does not scale with epochs was estimated with the notebook's training
    # factor applied to its BM3D, and the rest taken for training; with factor 2 and BM3D larger
    # than the training, the "training" came out negative and the epochs stayed the profile's
    full, name = PROFILES["full"], "06_generalisation.ipynb"
    rate, bm3d_s, calibration = 20_000.0, 0.2, Calibration({name: 6.0}, {name: 2.0}, "")

    def total(epochs):
        work = {name: notebook_work(with_epochs(full, epochs))[name]}
        return sum(estimate_seconds(work, rate, bm3d_s, calibration).values())

    for times in (2, 4):
        budget = total({"cmp_epochs": times * full.cmp_epochs})
        assert size_epochs(full, budget, [name], rate, bm3d_s, calibration)["cmp_epochs"] == times * full.cmp_epochs


def test_full_profile_is_the_reports_scale():
    full = PROFILES["full"]
    assert full.n_train == full.sweep_n_train == full.cmp_n_train == max(full.curve_sizes) == 50_000
    assert full.epochs >= 20 and full.sweep_epochs >= 3 and full.cmp_epochs >= 3
    assert len(full.sweep_seeds) == full.n_seeds == 3  # three seeds everywhere


def test_epochs_from_the_environment(monkeypatch):
    monkeypatch.setenv("N2N_PROFILE", "full")
    monkeypatch.setenv("N2N_EPOCHS", '{"epochs": 7, "cmp_epochs": 2}')
    prof = get_profile("quick")
    assert (prof.name, prof.epochs, prof.sweep_epochs, prof.cmp_epochs) == ("full", 7, 3, 2)
    for text, error in [('{"n_train": 5}', "unknown key"), ('{"epochs": 0}', ">= 1"), ('{"epochs": 2.5}', ">= 1"),
                        ("epochs=3", "not JSON"), ("[3]", "expected an object")]:
        monkeypatch.setenv("N2N_EPOCHS", text)
        with pytest.raises(ValueError, match=error):
            get_profile("quick")


def test_progress_counts_notebooks_and_rescales_what_is_left():
    now = [0.0]
    progress = Progress({"a.ipynb": 60.0, "b.ipynb": 120.0, "c.ipynb": 60.0}, clock=lambda: now[0])
    progress.begin("a.ipynb")
    assert progress.line() == "notebook 1 of 3 (a): 0.0 min elapsed, about 4.0 min left"
    assert Progress({"a": 10.0, "b": 100.0}).pace() == 1.0
    now[0] = 120.0  # a took twice its estimate: the rest should too
    assert progress.end("a.ipynb") == 120.0
    assert progress.pace() == 2.0
    progress.begin("b.ipynb")
    now[0] = 180.0
    assert progress.seconds_left() == pytest.approx((2 * 120 - 60) + 2 * 60)
    assert progress.line().startswith("notebook 2 of 3 (b): 3.0 min elapsed, about 5.0 min left")
    now[0] = 1000.0  # b overran even the rescaled estimate: the pace so far, b included, applies to c
    assert progress.seconds_left() == pytest.approx((120 + 880) / (60 + 120) * 60)


def test_measured_speed_is_a_positive_rate():
    assert 1 < measure_images_per_s("cpu", "fp32", seconds=0.2) < 1e6


def test_output_root_moves_every_output_folder(tmp_path):
    env = {**os.environ, "N2N_OUTPUT_ROOT": str(tmp_path), "N2N_FIGURES_DIR": str(tmp_path / "elsewhere")}
    env.pop("N2N_RESULTS_DIR", None)
    env.pop("N2N_RUNS_DIR", None)
    shown = subprocess.run([sys.executable, "-c", "from n2n_utils import config as c; print(c.RESULTS_DIR, "
                            "c.RUNS_DIR, c.FIGURES_DIR, c.REPORT_DIR, c.COMMITTED_RESULTS_DIR)"],
                           env=env, capture_output=True, text=True, check=True).stdout.split()
    assert shown == [str(tmp_path / "results"), str(tmp_path / "runs"), str(tmp_path / "elsewhere"),
                     str(tmp_path / "report"), str(COMMITTED_RESULTS_DIR)]  # a folder's own variable wins


# --------------------------------------------------------------------------- drift


def test_drift_flags_a_number_outside_its_ci(tmp_path):
    committed, reproduced = tmp_path / "committed", tmp_path / "reproduced"
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", committed)
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", reproduced)
    table = pd.read_csv(reproduced / "comparisons.csv")
    n2n = (table.noise == "gaussian") & (table.method == "ResUNet Noise2Noise")
    table.loc[n2n, "psnr"] += 1.0  # far outside its CI (~0.4 dB)
    table.to_csv(reproduced / "comparisons.csv", index=False)
    (reproduced / "lr_sweep.json").write_text(json.dumps({**json.loads((committed / "lr_sweep.json").read_text()),
                                                           "best": 0.0016}))
    drift = drift_table(committed, reproduced).set_index("number")
    assert list(drift.index) == list(HEADLINES)
    n2n_row = drift.loc["gaussian: ResUNet Noise2Noise, PSNR (dB)"]
    assert n2n_row["difference"] == pytest.approx(1.0) and n2n_row["inside"] == "no"
    assert drift.loc["gaussian: BM3D, PSNR (dB)", "inside"] == "yes"
    assert drift.loc["learning-rate sweep: best value", "inside"] == "differs"
    assert drift.loc["batch-size sweep: best value", "inside"] == "same"
    assert drift.loc["main run (notebook 01), PSNR (dB)", "inside"] == ""  # one seed: no CI recorded
    # several seeds: the main run's CI across them (was: ignored, so never judged)
    for folder, shift in ((committed, 0.0), (reproduced, 0.2)):
        record = json.loads((folder / "train_resunet.json").read_text())
        record.update(seeds=[0, 1, 2], val_psnr_ci95=0.3, val_psnr=record["val_psnr"] + shift)
        (folder / "train_resunet.json").write_text(json.dumps(record))
    main = drift_table(committed, reproduced).set_index("number").loc["main run (notebook 01), PSNR (dB)"]
    assert main["ci95"] == 0.3 and main["inside"] == "yes"
    blind = drift.loc["blind weights: worst gap to BM3D, sigma 10-50/255 (dB)"]
    assert blind["difference"] == 0.0 and blind["committed"] < 0  # notebook 07's, read from its targets
    (reproduced / "generalisation.json").unlink()
    after = drift_table(committed, reproduced).set_index("number")
    assert after.loc["generalisation: best recipe", "inside"] == "missing"
    assert "| gaussian: ResUNet Noise2Noise, PSNR (dB)" in format_drift(drift.reset_index())



def test_drift_of_the_third_split(tmp_path):
    committed, reproduced = tmp_path / "committed", tmp_path / "reproduced"
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", committed)
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", reproduced)
    label = "generalisation: best recipe on the photos it was not chosen on, gap to BM3D (dB)"
    if "third_split" not in json.loads((committed / "generalisation.json").read_text()):  # made before it was
        assert drift_table(committed, reproduced).set_index("number").loc[label, "inside"] == "missing"
    for folder, gap in ((committed, -2.5), (reproduced, -1.0)):
        record = json.loads((folder / "generalisation.json").read_text())
        record["third_split"] = {"recipe": record["best_recipe"], "selection_photos": ["chelsea"],
                                 "test_photos": ["astronaut", "china"], "against": "BM3D", "gap": gap, "gap_ci95": 1.0}
        (folder / "generalisation.json").write_text(json.dumps(record))
    row = drift_table(committed, reproduced).set_index("number").loc[label]
    assert row["committed"] == -2.5 and row["difference"] == pytest.approx(1.5) and row["inside"] == "no"

def test_drift_of_a_sweep_value_that_diverged_says_so(tmp_path):
    # was: "inside CI: no" beside an empty reproduced number, as if the run had drifted
    committed, reproduced = tmp_path / "committed", tmp_path / "reproduced"
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", committed)
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", reproduced)
    summary = pd.read_csv(reproduced / "lr_sweep_summary.csv").assign(n_diverged=0)
    at_report = summary["value"] == REPORT_LR
    summary.loc[at_report, ["psnr_mean", "psnr_ci95", "n_diverged"]] = [math.nan, math.nan, 1]
    summary.to_csv(reproduced / "lr_sweep_summary.csv", index=False)
    drift = drift_table(committed, reproduced).set_index("number")
    assert drift.loc[f"learning-rate sweep: PSNR at {REPORT_LR:g} (dB)", "inside"] == "diverged"
    assert drift.loc["learning-rate sweep: best PSNR (dB)", "inside"] in ("yes", "no")  # the best has a mean
    # a mean of the runs that finished, the highest of all: still "diverged", and not the best
    summary.loc[at_report, ["psnr_mean", "psnr_ci95"]] = [40.0, 0.1]
    summary.to_csv(reproduced / "lr_sweep_summary.csv", index=False)
    drift = drift_table(committed, reproduced).set_index("number")
    assert drift.loc[f"learning-rate sweep: PSNR at {REPORT_LR:g} (dB)", "inside"] == "diverged"
    assert drift.loc["learning-rate sweep: best PSNR (dB)", "reproduced"] < 40
    summary.assign(psnr_mean=math.nan).to_csv(reproduced / "lr_sweep_summary.csv", index=False)
    drift = drift_table(committed, reproduced).set_index("number")  # was: 'Encountered all NA values'
    assert drift.loc["learning-rate sweep: best PSNR (dB)", "inside"] == "diverged"


def test_drift_only_against_results_of_the_same_data(tmp_path, capsys):
    committed, reproduced = tmp_path / "committed", tmp_path / "reproduced"
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", committed)
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", reproduced)
    (reproduced / "pipeline.json").unlink()
    record = {"profile": "quick", "dataset": "natural32", "noise": "gaussian", "seed": 1,
              "device": "cpu (2 threads)"}
    pipeline.report_drift(committed, reproduced, record)
    assert "no drift table" in capsys.readouterr().out and not (reproduced / "drift.csv").exists()
    pipeline.report_drift(committed, reproduced, {**record, "seed": 0})
    assert "| gaussian: BM3D, PSNR (dB)" in capsys.readouterr().out
    drift = pd.read_csv(reproduced / "drift.csv")
    held = drift["committed"].notna()  # a headline newer than the committed results is "missing" on both sides
    assert set(drift.loc[held, "inside"].fillna("")) <= {"yes", "same", ""} and held.sum() >= len(HEADLINES) - 1
    # its provenance names seed and device, as every results file's does (was: profile and commit only)
    made = json.loads((reproduced / "drift.provenance.json").read_text())
    assert (made["profile"], made["seed"], made["device"]) == ("quick", 0, "cpu (2 threads)")
    (reproduced / "drift.csv").unlink()  # in place: the results before the run, printed and not written
    pipeline.report_drift(committed, reproduced, {**record, "seed": 0}, label="before this run", write=False)
    assert "drift, before this run against this run:" in capsys.readouterr().out
    assert not (reproduced / "drift.csv").exists()



def test_drift_against_damaged_results_names_the_file_and_keeps_the_run(tmp_path, capsys):
    # was: json's or pandas' traceback at the end of a run whose own results were all written
    committed, reproduced = tmp_path / "committed", tmp_path / "reproduced"
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", committed)
    shutil.copytree(COMMITTED_RESULTS_DIR / "quick", reproduced)
    record = {"profile": "quick", "dataset": "natural32", "noise": "gaussian", "seed": 0, "device": "cpu"}
    (committed / "lr_sweep.json").write_text('{"best": ')
    pipeline.report_drift(committed, reproduced, record)
    out = capsys.readouterr().out
    assert f"no drift table: {committed / 'lr_sweep.json'}: damaged, not JSON" in out
    assert not (reproduced / "drift.csv").exists()
    (committed / "pipeline.json").write_text("[]")
    pipeline.report_drift(committed, reproduced, record)
    assert f"no drift table: {committed / 'pipeline.json'}: not a results record" in capsys.readouterr().out

# --------------------------------------------------------------------------- stub notebooks

PARAMETERS = ('profile = "quick"\ndataset = "natural32"\nnoise = "gaussian"\nseed = 0\ndevice = "auto"\n'
              'output_dir = ""')


def _stub(folder, name, body):
    """A notebook with the study's parameters cell and one cell of `body`."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, folder / name)


# what a stub writes: the profile it sees (with the pipeline's epochs) and where its outputs go
REPORTING = """
import dataclasses
import json
from n2n_utils.profiles import get_profile, output_dirs
prof = get_profile(profile)
dirs = output_dirs(prof.name, output_dir)
(dirs.results / "stub.json").write_text(json.dumps({"profile": prof.name, "epochs": prof.epochs,
                                                     "cmp_epochs": prof.cmp_epochs}))
"""


def test_run_pipeline_on_stubs_sizes_epochs_and_writes_its_own_folder(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _stub(notebooks, "00_data_exploration.ipynb", "print('data')")
    _stub(notebooks, "01_train_resunet.ipynb", REPORTING)
    # a fixed speed (measuring is tested above) so that a one-minute budget means several epochs
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda device, precision, seconds: 100.0)
    monkeypatch.setenv("N2N_PROFILE", "quick")  # the pipeline's --profile wins in the kernels
    out = tmp_path / "out"
    chosen = ["00_data_exploration.ipynb", "01_train_resunet.ipynb", "05_comparisons.ipynb"]
    record = pipeline.run_pipeline("smoke", dataset=str(tmp_path), out=out, minutes=1.0, notebooks=chosen,
                                   notebooks_dir=notebooks)
    written = json.loads((out / "results" / "smoke" / "pipeline.json").read_text())
    assert written["notebooks"] == record["notebooks"]
    assert [row["notebook"] for row in written["notebooks"]] == chosen
    assert "embedded dataset" in written["notebooks"][2]["skipped"]  # a folder: no comparisons
    for row in written["notebooks"][:2]:
        assert row["seconds"] > 0 and row["estimated_seconds"] > 0
    assert written["notebooks"][1]["train_images"] == PROFILES["smoke"].n_train * written["epochs"]["epochs"]
    assert written["budget_minutes"] == 1.0 and written["measured"]["images_per_s"] == 100.0
    assert written["epochs"]["epochs"] > PROFILES["smoke"].epochs  # the budget allows more than smoke's 1
    assert written["epochs"]["sweep_epochs"] == PROFILES["smoke"].sweep_epochs  # no sweep notebook chosen
    assert written["estimated_seconds"] <= 60.0
    seen = json.loads((out / "results" / "smoke" / "stub.json").read_text())
    assert seen == {"profile": "smoke", "epochs": written["epochs"]["epochs"],
                    "cmp_epochs": written["epochs"]["cmp_epochs"]}
    assert (out / "runs" / "smoke" / "notebooks" / "01_train_resunet.ipynb").exists()
    assert written["output_root"] == str(out.resolve())

    # a rerun of one notebook replaces its row and keeps the others', with the speed they were timed at
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda device, precision, seconds: 200.0)
    pipeline.run_pipeline("smoke", dataset=str(tmp_path), out=out, notebooks=chosen[:1], notebooks_dir=notebooks)
    rerun = json.loads((out / "results" / "smoke" / "pipeline.json").read_text())
    assert [row["notebook"] for row in rerun["notebooks"]] == chosen
    first, *kept = rerun["notebooks"]
    assert "carried_from" not in first and first["seconds"] > 0 and rerun["measured"]["images_per_s"] == 200.0
    assert kept == [{"carried_from": {"git_commit": written["git_commit"], "created": written["created"]},
                     "measured": written["measured"], **row} for row in written["notebooks"][1:]]
    assert pipeline.carried_rows(out / "results" / "smoke" / "pipeline.json", rerun)[1:] == kept  # carried once
    # the calibration reads each row against its own run's speed: the same as from the first record
    name = chosen[1]
    assert calibrate(rerun).factor[name] == pytest.approx(calibrate(written).factor[name])


def test_execute_records_a_failing_notebook(tmp_path):
    _stub(tmp_path, "00_data_exploration.ipynb", "raise RuntimeError('stub failure')")
    dirs = OutputDirs(tmp_path / "figures", tmp_path / "results", tmp_path / "runs")
    dirs.results.mkdir()
    plan = pipeline.Plan({"epochs": 1, "sweep_epochs": 1, "cmp_epochs": 1},
                         {"00_data_exploration.ipynb": Work()}, {"00_data_exploration.ipynb": 6.0})
    failed = r"00_data_exploration.ipynb failed in cell \[\d+\]: RuntimeError: stub failure"
    # the record of an earlier run there: a failing rerun loses none of its rows
    earlier = {"profile": "smoke", "git_commit": "abc", "created": "then", "measured": {"images_per_s": 9.0},
               "notebooks": [{"notebook": n, "seconds": 5.0}
                             for n in ("00_data_exploration.ipynb", "04_predictions.ipynb")]}
    (dirs.results / "pipeline.json").write_text(json.dumps({**earlier, "profile": "quick"}))  # another profile's
    with pytest.raises(SystemExit, match=failed):
        pipeline._execute(["00_data_exploration.ipynb"], {"profile": "smoke"}, dirs, plan, {"profile": "smoke"}, {},
                          tmp_path)
    written = json.loads((dirs.results / "pipeline.json").read_text())
    assert written["failed"]["error"] == "RuntimeError" and written["notebooks"] == []
    (dirs.results / "pipeline.json").write_text(json.dumps(earlier))
    with pytest.raises(SystemExit, match=failed):
        pipeline._execute(["00_data_exploration.ipynb"], {"profile": "smoke"}, dirs, plan, {"profile": "smoke"}, {},
                          tmp_path)
    written = json.loads((dirs.results / "pipeline.json").read_text())
    assert written["notebooks"] == [{"carried_from": {"git_commit": "abc", "created": "then"},
                                     "measured": {"images_per_s": 9.0}, **row} for row in earlier["notebooks"]]
    (dirs.results / "pipeline.json").write_text("{not json")
    assert pipeline.carried_rows(dirs.results / "pipeline.json", {"profile": "smoke"}) == []


def test_an_interrupted_run_says_so_in_one_line_and_in_its_record(tmp_path, monkeypatch, capsys):
    """Ctrl-C (or make's SIGINT) in a notebook: exit status 130, one line naming the notebook and
    how to go on, and pipeline.json marked (was: a 30-line KeyboardInterrupt traceback)."""
    import papermill

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    dirs = OutputDirs(tmp_path / "figures", tmp_path / "results", tmp_path / "runs")
    dirs.results.mkdir()
    name = "01_train_resunet.ipynb"
    plan = pipeline.Plan({"epochs": 1, "sweep_epochs": 1, "cmp_epochs": 1}, {name: Work()}, {name: 6.0})
    with pytest.raises(SystemExit) as stop:
        pipeline._execute([name], {"profile": "smoke"}, dirs, plan, {"profile": "smoke"}, {}, tmp_path)
    assert stop.value.code == 130
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "interrupted in 01_train_resunet.ipynb" in err and "resume" in err
    assert json.loads((dirs.results / "pipeline.json").read_text())["interrupted"] == {"notebook": name}


def test_an_interrupt_that_the_kernel_reports_first_is_an_interrupt(tmp_path, capsys):
    """Ctrl-C reaches the kernel too: when its cell stops first, the run was interrupted, not
    failed (was: 'failed in cell [2]: KeyboardInterrupt', and a record of a failure)."""
    name = "00_data_exploration.ipynb"
    _stub(tmp_path, name, "raise KeyboardInterrupt")
    dirs = OutputDirs(tmp_path / "figures", tmp_path / "results", tmp_path / "runs")
    dirs.results.mkdir()
    plan = pipeline.Plan({"epochs": 1, "sweep_epochs": 1, "cmp_epochs": 1}, {name: Work()}, {name: 6.0})
    with pytest.raises(SystemExit) as stop:
        pipeline._execute([name], {"profile": "smoke"}, dirs, plan, {"profile": "smoke"}, {}, tmp_path)
    assert stop.value.code == 130 and f"interrupted in {name}" in capsys.readouterr().err
    written = json.loads((dirs.results / "pipeline.json").read_text())
    assert written["interrupted"] == {"notebook": name} and "failed" not in written


def test_an_interrupt_while_measuring_is_one_line_and_status_130(monkeypatch, capsys):
    # was: a KeyboardInterrupt traceback from the speed measurement, before any notebook
    def measuring(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "measure_images_per_s", measuring)
    assert pipeline.main(["--profile", "smoke", "--plan"]) == 130
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("interrupted;") and "same command again" in err


def test_cli_refuses_bad_options(tmp_path, capsys):
    for argv, error in [(["--minutes", "0"], "--minutes 0: a time budget must be a positive number of minutes"),
                        (["--minutes", "inf"], "--minutes inf: a time budget must be a positive"),
                        (["--seed", "-1"], "--seed -1: 0 or more"),  # was: notebook 00 failed after measuring
                        (["--device", "tpu"], "invalid choice"),
                        (["--out", str(tmp_path), "--in-place"], "not allowed")]:
        with pytest.raises(SystemExit):
            pipeline.main(argv)
        assert error in capsys.readouterr().err


def test_the_cli_words_run_pipelines_own_rules_as_its_options(monkeypatch, capsys):
    # was: main checked --seed and --minutes (and --notebooks, --dataset) again beside run_pipeline, in words of its own
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda *args: pytest.fail("measured"))
    for argv, given in [(["--seed", "-1"], {"seed": -1}), (["--minutes", "0"], {"minutes": 0.0}),
                        (["--minutes", "nan"], {"minutes": math.nan}),
                        # Path("") is the current folder: --dataset "" read it as photos, --out "" wrote there
                        (["--dataset", ""], {"dataset": ""}), (["--out", ""], {"out": ""}),
                        (["--dataset", "no/such/folder"], {"dataset": "no/such/folder"}),
                        (["--notebooks", "99_missing.ipynb", "01_train_resunet.ipynb", "x.ipynb"],
                         {"notebooks": ["99_missing.ipynb", "01_train_resunet.ipynb", "x.ipynb"]})]:
        with pytest.raises(ValueError) as refused:
            pipeline.run_pipeline("smoke", plan_only=True, **given)
        with pytest.raises(SystemExit) as stop:
            pipeline.main(["--profile", "smoke", "--plan", *argv])
        said = capsys.readouterr().err.strip().splitlines()[-1]
        name, rest = str(refused.value).split("=", 1)  # "seed=-1: 0 or more" is "--seed -1: 0 or more"
        assert stop.value.code == 2 and said.endswith(f": error: --{name} {rest}"), said


def test_an_infinite_budget_is_refused_before_measuring(monkeypatch):
    """--minutes inf passed `not minutes > 0` and overflowed when sizing the epochs (a traceback)."""
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda *args: pytest.fail("measured"))
    with pytest.raises(ValueError, match="minutes=inf: a time budget must be a positive number of minutes"):
        pipeline.run_pipeline("smoke", minutes=math.inf, plan_only=True)


def test_a_relative_dataset_folder_is_the_callers(tmp_path, monkeypatch):
    """The notebooks run in the notebooks' folder: a folder named relative to where the pipeline
    was started must reach them whole (was: 'neither an embedded dataset nor an existing folder')."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    _stub(notebooks, "00_data_exploration.ipynb", "import pathlib\nassert pathlib.Path(dataset).is_dir(), dataset")
    (tmp_path / "photos").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda device, precision, seconds: 100.0)
    record = pipeline.run_pipeline("smoke", dataset="photos", out=tmp_path / "out",
                                   notebooks=["00_data_exploration.ipynb"], notebooks_dir=notebooks)
    assert record["dataset"] == str(tmp_path / "photos")


def test_a_notebook_named_twice_runs_once(tmp_path, monkeypatch):
    """--notebooks A A: A runs once, as 'notebook 1 of 1' (was: twice, 'notebook 2 of 1')."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    runs = tmp_path / "runs.txt"
    _stub(notebooks, "00_data_exploration.ipynb", f"open({str(runs)!r}, 'a').write('ran\\n')")
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda device, precision, seconds: 100.0)
    name = "00_data_exploration.ipynb"
    record = pipeline.run_pipeline("smoke", out=tmp_path / "out", notebooks=[name, name], notebooks_dir=notebooks)
    assert runs.read_text() == "ran\n" and [row["notebook"] for row in record["notebooks"]] == [name]


def test_cli_passes_the_gpu_scripts_options(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *args, **kw: seen.setdefault("args", (args, kw)))
    assert pipeline.main(["--profile", "full", "--minutes", "8", "--device", "cuda", "--out", str(tmp_path)]) == 0
    assert seen["args"] == (("full", "natural32", "gaussian", 0, "cuda", str(tmp_path), False, 8.0, None),
                            {"plan_only": False})


def test_plan_only_prints_the_expected_times_and_runs_nothing(tmp_path, monkeypatch, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    chosen = ["00_data_exploration.ipynb", "01_train_resunet.ipynb"]
    for name in chosen:
        _stub(notebooks, name, "raise RuntimeError('a plan runs nothing')")
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda device, precision, seconds: 100.0)
    plan = pipeline.run_pipeline("smoke", out=tmp_path / "out", notebooks=chosen, notebooks_dir=notebooks,
                                 plan_only=True)
    assert list(plan["estimates_s"]) == chosen and all(s > 0 for s in plan["estimates_s"].values())
    assert "expected time (profile smoke)" in capsys.readouterr().out
    assert not (tmp_path / "out" / "results" / "smoke" / "pipeline.json").exists()
    # a folder's plan says which notebooks it leaves out, and why (was: left out without a word)
    plan = pipeline.run_pipeline("smoke", dataset=str(tmp_path), out=tmp_path / "out",
                                 notebooks=[*chosen, "05_comparisons.ipynb"], notebooks_dir=notebooks, plan_only=True)
    assert list(plan["estimates_s"]) == chosen
    assert "05_comparisons.ipynb: skipped, it needs an embedded dataset" in capsys.readouterr().out


def test_a_noise_a_notebook_cannot_take_leaves_that_notebook_out_before_any_work(tmp_path, monkeypatch, capsys):
    # was: --noise impulse ran 00-05, then 06 failed on BM3D ("bm3d does not suit impulse noise");
    # --noise gaussian_blind failed at 05's headline after every network had trained
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    chosen = ["00_data_exploration.ipynb", "05_comparisons.ipynb", "06_generalisation.ipynb", "07_explore.ipynb"]
    for name in chosen:
        _stub(notebooks, name, "raise RuntimeError('a plan runs nothing')")
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda device, precision, seconds: 100.0)
    plan = pipeline.run_pipeline("smoke", noise="impulse", out=tmp_path / "out", notebooks=chosen,
                                 notebooks_dir=notebooks, plan_only=True)
    assert list(plan["estimates_s"]) == ["00_data_exploration.ipynb", "05_comparisons.ipynb", "07_explore.ipynb"]
    assert ("06_generalisation.ipynb: skipped, it needs a noise BM3D suits: gaussian, poisson (not impulse)"
            in capsys.readouterr().out)
    assert set(pipeline.left_out(chosen, "natural32", "gaussian_blind")) == set(chosen[1:])
    assert pipeline.left_out(chosen, "natural32", "poisson") == {}
    assert "embedded dataset" in pipeline.left_out(chosen, str(tmp_path), "impulse")["06_generalisation.ipynb"]


def test_a_rerun_with_the_same_budget_keeps_the_epochs_it_was_sized_to(tmp_path, monkeypatch, capsys):
    """'run the same command again to resume' holds with --minutes: sized again, a speed
    measured 30% faster gave 10 epochs where the interrupted run had 7 (its sweep rows redone
    under other run keys; slower, its checkpoint refused as holding more epochs than asked)."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    chosen = ["00_data_exploration.ipynb", "01_train_resunet.ipynb", "02_learning_rate_sweep.ipynb"]
    for name in chosen:
        _stub(notebooks, name, "raise KeyboardInterrupt" if name.startswith("01") else "pass")
    speed = {"images_per_s": 100.0}
    monkeypatch.setattr(pipeline, "measure_images_per_s", lambda device, precision, seconds: speed["images_per_s"])
    run = dict(out=tmp_path / "out", notebooks=chosen, notebooks_dir=notebooks)
    with pytest.raises(SystemExit):
        pipeline.run_pipeline("quick", minutes=30, **run)
    record = json.loads((tmp_path / "out" / "results" / "quick" / "pipeline.json").read_text())
    speed["images_per_s"] = 130.0
    assert pipeline.run_pipeline("quick", minutes=30, plan_only=True, **run)["epochs"] == record["epochs"]
    assert "kept from the earlier run" in capsys.readouterr().out
    assert pipeline.run_pipeline("quick", minutes=40, plan_only=True, **run)["epochs"] != record["epochs"]
    fresh = pipeline.run_pipeline("quick", minutes=30, plan_only=True, **{**run, "out": tmp_path / "other"})
    assert fresh["epochs"] != record["epochs"]  # measured afresh: the speed counts
    fewer = pipeline.run_pipeline("quick", minutes=30, plan_only=True, **{**run, "notebooks": chosen[:2]})
    assert fewer["epochs"]["epochs"] > record["epochs"]["epochs"]  # the budget over other notebooks: sized again



# the pipeline's command line in a subprocess, on the stub notebooks in argv[1], measuring at a fixed
# speed or (argv[2] "slow") for a minute, as long as a real measurement can seem, after writing `measuring`.
# SIGINT raises KeyboardInterrupt, as in a terminal's foreground job: a test run started in the background
# by a script (`cmd &` in a shell without job control) hands SIGINT down ignored, and a Ctrl-C is lost
SIGNALLED = """
import functools, signal, sys, time
from pathlib import Path
from n2n_utils import pipeline
signal.signal(signal.SIGINT, signal.default_int_handler)
def slow(*args):
    (Path(sys.argv[1]) / "measuring").write_text("")
    time.sleep(60)
pipeline.measure_images_per_s = slow if sys.argv[2] == "slow" else lambda *args: 1000.0
pipeline.run_pipeline = functools.partial(pipeline.run_pipeline, notebooks_dir=Path(sys.argv[1]))
sys.exit(pipeline.main(sys.argv[3:]))
"""


def _terminated(tmp_path, measuring: str, args: list[str], ready: str, ctrl_c: bool = False,
                sigint_ignored: bool = False) -> subprocess.Popen:
    """Run SIGNALLED with `args`, send it SIGTERM (or, `ctrl_c`, SIGINT to its process group, as a
    terminal's Ctrl-C does) once the file `ready` exists in `tmp_path`, and return it when it has
    ended, its output unread (a kernel it started holds the pipes until that ends too).
    `sigint_ignored`: started with SIGINT ignored, as by a test run in the background of a script.
    Fails, ending the process group, if `ready` is not there within 120 s or the run goes on 60 s
    after the signal."""
    env = {**os.environ, "PYTHONPATH": str(pipeline.config.ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("N2N_PROFILE", None)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if sigint_ignored else None
    try:
        child = subprocess.Popen([sys.executable, "-c", SIGNALLED, str(tmp_path), measuring, *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                                 start_new_session=True)  # its own process group, as a shell's job has
    finally:
        if sigint_ignored:
            signal.signal(signal.SIGINT, previous)

    def fail(why: str):
        os.killpg(child.pid, signal.SIGKILL)  # its kernel, in a session of its own, ends with its parent
        pytest.fail(f"{why}; its stderr:\n{child.communicate(timeout=60)[1]}")

    deadline = time.monotonic() + 120  # a kernel took up to 20 s to start on 2 busy cores
    while not (tmp_path / ready).exists():
        if child.poll() is not None or time.monotonic() > deadline:
            fail(f"the run {'ended' if child.poll() is not None else 'went on 120 s'} without writing {ready}")
        time.sleep(0.05)
    if ctrl_c:
        os.killpg(child.pid, signal.SIGINT)
    else:
        child.terminate()  # SIGTERM
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail(f"the run went on 60 s after {'SIGINT' if ctrl_c else 'SIGTERM'}")
    return child


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")  # a zombie (ended, not yet reaped) still answers kill -0
    return not (stat.exists() and stat.read_text().rsplit(") ", 1)[-1].startswith("Z"))


def test_sigterm_while_measuring_is_one_line_and_status_143(tmp_path):
    # was: SIGTERM (kill, timeout, a batch scheduler) ended the process without a word (status -15)
    done = _terminated(tmp_path, "slow", ["--profile", "smoke", "--plan"], "measuring")
    assert (done.returncode, done.stderr.read()) == (143, f"interrupted; {pipeline.RESUME_HINT}\n")


@pytest.mark.parametrize("ctrl_c, sigint_ignored", [(False, False), (True, False), (True, True)],
                         ids=["sigterm", "ctrl-c", "ctrl-c-under-a-runner-ignoring-sigint"])
def test_an_interrupt_in_a_notebook_is_one_line_recorded_and_shuts_its_kernel_down(tmp_path, ctrl_c,
                                                                                   sigint_ignored):
    # was: no word, no record, and the kernel ran on until it noticed its parent had gone; then,
    # before the pipeline's line, the kernel's ZMQError traceback from its shutdown racing the cell.
    # ctrl-c under a runner ignoring SIGINT: the Ctrl-C was lost, the cell slept on (the suite run
    # in the background of a script); SIGNALLED now starts as a terminal's foreground job does
    name = "00_data_exploration.ipynb"
    _stub(tmp_path, name, f"import os, time\nopen({str(tmp_path / 'kernel')!r}, 'w').write(str(os.getpid()))\n"
                          "time.sleep(60)")
    out = tmp_path / "out"
    done = _terminated(tmp_path, "fixed", ["--profile", "smoke", "--notebooks", name, "--out", str(out)], "kernel",
                       ctrl_c=ctrl_c, sigint_ignored=sigint_ignored)
    kernel_alive = _alive(int((tmp_path / "kernel").read_text()))  # as the pipeline ends, not a moment later
    err = done.communicate(timeout=60)[1]
    assert done.returncode == (130 if ctrl_c else 143), err
    assert "Traceback" not in err and "ZMQError" not in err, err
    (line,) = err.strip().splitlines()  # nor the kernel's warning at its start
    assert line.startswith(f"interrupted in {name}") and pipeline.RESUME_HINT in line
    assert json.loads((out / "results" / "smoke" / "pipeline.json").read_text())["interrupted"] == {"notebook": name}
    assert not kernel_alive
