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
