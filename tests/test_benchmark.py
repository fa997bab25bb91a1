"""The throughput benchmark runs end to end in its tiny config and writes a complete results
file. Nothing here is timed and nothing asserts a speed: the tiny config's numbers mean nothing."""

import json
import statistics
import subprocess
import sys
import warnings
from types import SimpleNamespace

import pytest
import torch

from n2n_utils import config
from n2n_utils.config import ROOT, SlowPrecisionWarning, native_precision


def _benchmark(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks.throughput", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_tiny_benchmark_writes_complete_results(tmp_path):
    out = tmp_path / "tiny.json"
    run = _benchmark("--config", "tiny", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())

    assert {"git_commit", "created", "torch", "device", "torch_threads", "cpu"} <= set(results["provenance"])
    assert {"model", "avx512", "avx512_bf16", "amx_bf16", "cores", "threads"} <= set(results["provenance"]["cpu"])
    assert results["provenance"]["config"] == "tiny"
    settings = {row["name"]: row for row in results["settings"]}
    assert "reference" in settings and any(row["default"] for row in results["settings"])
    assert any(row["precision"] != "fp32" for row in results["settings"])
    layouts = {(row["precision"], row["batch"], row["layout"]) for row in results["settings"] if not row["default"]}
    native = native_precision("bf16", torch.device("cpu"))  # else bf16 is timed at batch 8 alone: its cost
    assert {(p, b, lay) for p in ("fp32", "bf16") for b in (8, 32) for lay in ("NCHW", "channels_last")
            if p == "fp32" or b == 8 or native} <= layouts
    assert native or not any(row["precision"] == "bf16" and row["batch"] > 8 for row in results["settings"])
    assert next(row for row in results["settings"] if row["default"])["layout"] in ("auto: channels_last", "auto: NCHW")
    for row in results["settings"]:
        assert row["images_per_s"] > 0 and row["gflops_per_s"] > 0, row
    assert settings["reference"]["speedup_vs_reference"] == pytest.approx(1.0)
    if native_precision("bf16", torch.device("cpu")):  # else bf16 is emulated: no PSNR (hours), nothing compared
        default = next(row for row in results["settings"] if row["default"])
        assert 0 < default["psnr"] < 60
        assert results["quality"]["comparisons"], "no precision compared at equal batch size"
    for comparison in results["quality"]["comparisons"]:  # one PSNR per seed, paired with fp32's
        assert len(comparison["psnr"]) == len(comparison["fp32_psnr"]) == len(results["config"]["psnr_seeds"])
        assert "delta_ci95" in comparison
    for row in results["settings"]:  # the median of the round-robin runs
        assert len(row["images_per_s_runs"]) == results["config"]["rounds"]
        assert row["images_per_s"] == pytest.approx(statistics.median(row["images_per_s_runs"]))
    assert all(row["images_per_s"] > 0 for row in results["inference"]["rows"])

    flops = results["flops"]  # a backward pass costs about two forwards
    assert flops["train_per_image"] == pytest.approx(3 * flops["forward_per_image"], rel=0.10)
    assert flops["forward_per_image"] == pytest.approx(0.38e9, rel=0.05)
    assert "| reference" in run.stdout  # the markdown table


def test_unknown_config_is_refused_with_the_choices():
    run = _benchmark("--config", "huge")
    assert run.returncode == 2
    assert "invalid choice: 'huge'" in run.stderr and "'tiny'" in run.stderr and "'full'" in run.stderr


def test_median_of_rounds_and_paired_quality(monkeypatch):
    from benchmarks import throughput
    from benchmarks.throughput import Setting, _median, quality, quality_settings

    native = lambda precision, device: True  # noqa: E731
    monkeypatch.setattr(throughput, "native_precision", native)
    monkeypatch.setattr(config, "native_precision", native)  # resolve_precision's, on an AVX2 CPU too

    assert _median([250.0, 100.0, 260.0]) == 250.0
    assert _median([250.0, "RuntimeError: no compiler"]) == "RuntimeError: no compiler"

    fp32, bf16, auto, wide = Setting(8, "fp32"), Setting(8, "bf16"), Setting(8, "auto"), Setting(64, "bf16")
    trained = quality_settings([Setting(reference=True, channels_last=False), fp32, auto, bf16, wide],
                               torch.device("cpu"))
    assert wide not in trained  # no fp32 twin at batch 64: its PSNR would compare with nothing
    assert set(trained) == {fp32, auto, bf16} and trained[fp32] == fp32 and trained[auto].precision != "auto"
    pairs = [fp32, bf16, Setting(32, "fp32"), Setting(32, "bf16"), wide, Setting(64, "fp32")]
    assert {s.batch for s in quality_settings(pairs, torch.device("cpu"), {8, 64})} == {8, 64}  # not 32
    avx2 = lambda precision, device: precision != "bf16"  # noqa: E731
    monkeypatch.setattr(throughput, "native_precision", avx2)
    monkeypatch.setattr(config, "native_precision", avx2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPrecisionWarning)  # the benchmark leaves bf16 out here on purpose
        emulated = quality_settings([fp32, bf16, Setting(8, "bf16", channels_last=False)], torch.device("cpu"))
    assert set(emulated) == set()  # hours of emulated bf16: no PSNR, so fp32 has no twin to be compared with

    class Meta:
        meta = {"noise": "gaussian", "noise_params": {"sigma": 0.1}}

    bench = SimpleNamespace(psnr_val=10, psnr_epochs=1, psnr_pairs=10, psnr_seeds=(0, 1, 2))
    result = quality({fp32: [26.0, 26.4, 25.9], bf16: [26.1, 26.3, 26.0]}, Meta, bench)
    (row,) = result["comparisons"]
    assert row["delta_db"] == pytest.approx(0.1 / 3)  # the mean of the paired differences 0.1, -0.1, 0.1
    assert row["delta_ci95"] == pytest.approx(4.303 * 0.11547 / 3**0.5, rel=1e-3)  # t(0.975, 2) * sd / sqrt(3)


@pytest.mark.parametrize("native", [True, False])
def test_emulated_bf16_is_timed_at_batch_8_alone(monkeypatch, native):
    # was: at batch 8 and 32 in both layouts, minutes of a full run on an AVX2 CPU at about 5 images/s
    from benchmarks import throughput

    monkeypatch.setattr(throughput, "native_precision", lambda precision, device: native)
    grid = {(s.precision, s.batch, s.channels_last) for s in throughput.settings_for(torch.device("cpu"), 1024)
            if not s.reference}
    assert {("fp32", b, lay) for b in (8, 32) for lay in (False, True)} <= grid
    assert {("bf16", 8, False), ("bf16", 8, True)} <= grid
    assert (("bf16", 32, True) in grid and ("bf16", 64, True) in grid) == native
    assert native or max(b for p, b, _ in grid if p == "bf16") == 8


def test_one_seed_gives_no_ci_against_fp32():
    # was: the smoke benchmark's one seed gave "±0.00" in the table, as if the PSNR gap were exact
    from benchmarks.throughput import TRAINING_COLUMNS, Setting, markdown_table, vs_fp32
    from n2n_utils.report.speed import _fastest

    fp32, bf16 = Setting(8, "fp32"), Setting(8, "bf16")
    delta, half = vs_fp32(bf16, {fp32: [26.0], bf16: [26.1]})
    assert delta == pytest.approx(0.1) and half != half  # NaN
    row = {"name": "bf16 b8", "psnr_delta_db": delta, "psnr_delta_ci95": half}
    assert "| n/a " in markdown_table([row], {"vs fp32 (dB)": TRAINING_COLUMNS["vs fp32 (dB)"],
                                              "95% CI": TRAINING_COLUMNS["95% CI"]})
    text = _fastest({"settings": [{**row, "images_per_s": 100.0, "speedup_vs_reference": 2.0,
                                          "fraction_of_peak": 0.5}]})
    assert "its PSNR is +0.10 dB from fp32's (one seed: no CI)" in text and "nan" not in text


def test_the_reports_speed_table_shows_no_ci_of_one_seed_as_the_benchmarks_does(tmp_path, monkeypatch):
    # was: the benchmark's table said "n/a" where one seed gave no CI, but its JSON holds null there
    # (files.json_text), which the report's section 10 showed as a blank cell, as for fp32's own rows
    import json

    from n2n_utils import config
    from n2n_utils.report.speed import section_speed

    bench = json.loads(sorted(config.BENCHMARK_RESULTS_DIR.glob("throughput-*.json"))[0].read_text())
    compared = [r for r in bench["settings"] if r.get("psnr_delta_db") is not None]
    assert compared and any(r.get("psnr_delta_db") is None for r in bench["settings"])
    for row in compared:
        row["psnr_delta_ci95"] = None
    (tmp_path / "throughput-x.json").write_text(json.dumps(bench))
    monkeypatch.setattr(config, "BENCHMARK_RESULTS_DIR", tmp_path)
    rows = [line for line in section_speed().splitlines() if line.startswith("| ") and "psnr_delta_ci95" not in line]
    shown = {r.split("|")[1].strip(): r.split("|")[-2].strip() for r in rows if r.count("|") == 10}
    for row in bench["settings"]:
        assert shown[row["name"]] == ("n/a" if row.get("psnr_delta_db") is not None else ""), row["name"]


def test_grey_benchmark_writes_every_method_for_both_weights(tmp_path):
    from benchmarks import grey

    out = tmp_path / "grey.json"
    grey.run("tiny", out)
    results = json.loads(out.read_text())
    assert {"git_commit", "created", "seed", "cpu", "seconds"} <= set(results["provenance"])
    methods = {(m["weights"], m["method"]) for m in results["means"]}
    assert {(None, grey.NOISY), (None, grey.BM3D)} <= methods
    assert {(w, m) for w in grey.WEIGHTS for m in grey.NETWORK_METHODS} <= methods
    photos, sigmas = results["config"]["photos"], results["config"]["sigmas_255"]
    assert len(results["rows"]) == len(photos) * len(sigmas) * (2 + len(grey.WEIGHTS) * len(grey.NETWORK_METHODS))
    for m in results["means"]:
        assert 10 < m["psnr"] < 60, m
        if m["weights"] is not None:  # the gain is the difference from plain at the same weights and sigma
            plain = next(p for p in results["means"] if (p["weights"], p["sigma_255"], p["method"])
                         == (m["weights"], m["sigma_255"], grey.PLAIN))
            assert m["gain_over_plain_db"] == pytest.approx(m["psnr"] - plain["psnr"])
