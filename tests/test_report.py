import json
import shutil

import pandas as pd

from n2n_utils import report
from n2n_utils.config import REPORT_DIR


def test_committed_report_matches_results():
    """report/report.md is exactly what results/ renders to: no number typed by hand."""
    assert (REPORT_DIR / "report.md").exists()
    assert report.main(["--check"]) == 0, "report/report.md is stale: run `make report`"


def test_report_renders_numbers_from_results(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    (results / "quick").mkdir(parents=True)
    (figures / "quick").mkdir(parents=True)
    prov = {"git_commit": "abc", "created": "2026-01-01T00:00:00", "profile": "quick", "device": "cpu"}
    meta = {"name": "natural32", "noise": "gaussian", "noise_params": {"sigma": 0.098}, "n_train": 1234,
            "n_val": 10, "train_photos": ["a"], "val_photos": ["b"], "scales": [0.5, 0.125]}
    (results / "quick" / "data_summary.json").write_text(json.dumps(
        {**prov, "data": meta, "noisy_val_psnr": 20.123, "estimated_sigma_255": 25.0}))
    (results / "quick" / "train_resunet.json").write_text(json.dumps(
        {**prov, "data": meta, "val_psnr": 27.891, "train_seconds": 60, "parameters": 1147539,
         "precision": "bf16", "config": {"epochs": 5, "lr": 8e-4, "batch_size": 8, "loss": "mse",
                                         "precision": "auto", "final_activation": "relu"},
         "per_photo": [{"group": "b", "psnr": 27.891, "ci95": 0.1, "n": 10, "noisy": 20.123}]}))
    pd.DataFrame([{"layer": "enc0.0", "configuration": "Conv2D(3x3)", "output_shape": "(48, 32, 32)",
                   "parameters": 1344}]).to_csv(results / "quick" / "table1_architecture.csv", index=False)
    text = report.render(("quick",), results, figures)
    assert "20.12 dB (noisy input) to 27.89 dB" in text
    assert "1,234 pairs" in text and "bf16 autocast" in text and "1,147,539 parameters" in text
    assert "*(not run yet)*" in text  # the sweeps were not run: said, not invented
    shutil.rmtree(results)


def test_generalisation_section_renders_shipped_weights_and_cross_validation(tmp_path):
    results, figures = tmp_path / "results", tmp_path / "figures"
    (results / "quick").mkdir(parents=True)
    (figures / "quick").mkdir(parents=True)
    prov = {"git_commit": "abc", "created": "2026-01-01T00:00:00", "profile": "quick", "device": "cpu"}
    methods = {"noisy input": 20.0, "BM3D": 29.0, "TV": 27.0, "photos + colour augmentation": 28.0,
               "shipped weights (150k images seen)": 28.5, "shipped weights (150k images seen), ensemble": 28.9}
    table = [{"method": m, "chelsea": v + 0.5, "flower": v - 0.5, "all": v} for m, v in methods.items()]
    gap = [{"method": r["method"], **{k: r[k] - t for k, t in (("chelsea", 29.5), ("flower", 28.7), ("all", 29.0))}}
           for r in table if r["method"] not in ("noisy input", "BM3D", "TV")]
    cv_table = [{"method": m, "astronaut": v, "retina": v + 1, "photo mean": v + 0.5}
                for m, v in [("noisy input", 20.0), ("BM3D", 29.0), ("TV", 27.0), ("ResUNet N2N", 28.2)]]
    cv_gap = [{"method": "ResUNet N2N", "astronaut": -0.8, "retina": -0.8, "photo mean": -0.8}]
    (results / "quick" / "generalisation.json").write_text(json.dumps(
        {**prov, "base_config": {"epochs": 3}, "n_train": 1500, "n_val": 100,
         "best_recipe": "photos + colour augmentation", "gap_to_bm3d": gap, "table": table,
         "cv_folds": 4, "cv_n_val_per_fold": 60, "cv_table": cv_table, "cv_gap_to_bm3d": cv_gap}))
    text = report.section_generalisation(report.Results("quick", results, figures))
    assert "1.00 dB below BM3D's mean" in text  # 28.0 - 29.0
    assert "shipped weights (150k images seen), ensemble: -0.10 dB on the mean, worst photo flower (-0.30 dB)" in text
    assert "Leave-photos-out cross-validation" in text and "4 folds" in text
    assert "ResUNet N2N: -0.80 dB on the photo mean" in text
