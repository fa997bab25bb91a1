"""benchmarks/gpu_run.sh: its CPU dry run goes through every stage and leaves one archive with
each stage's outputs and the log; its arguments are checked before anything runs."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

from n2n_utils.config import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_run.sh"


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHON": sys.executable})


def test_bad_arguments_are_refused_before_anything_runs(tmp_path):
    over = _run(str(tmp_path / "out"), "--minutes", "12")
    assert over.returncode == 2 and "at most 10 (the hard wall)" in over.stderr
    assert _run().returncode == 2
    unknown = _run(str(tmp_path / "out"), "--fast")
    assert unknown.returncode == 2 and "unknown option --fast" in unknown.stderr
    assert not (tmp_path / "out" / "gpu-run.tar").exists()


@pytest.mark.slow
def test_cpu_dry_run_exercises_every_stage(tmp_path):
    run = _run(str(tmp_path), "--device", "cpu", "--minutes", "0.5", timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with tarfile.open(tmp_path / "gpu-run.tar") as tar:
        names = tar.getnames()
        record = json.load(tar.extractfile("run.json"))
        log = tar.extractfile("gpu-run.log").read().decode()
    assert [s["stage"] for s in record["stages"]] == ["benchmark", "profile", "retrain"]
    assert all(s["status"] == "ok" for s in record["stages"]), record
    assert any(n.startswith("benchmark/many-networks") and n.endswith(".json") for n in names)
    assert any(n.startswith("profile/results/") and n.endswith("pipeline.json") for n in names)
    assert any(n.startswith("retrain/weights/") and n.endswith(".pt") for n in names)
    assert any(n.startswith("retrain/weights/") and n.endswith(".md") for n in names)
    assert "retrain: ok" in log and "gpu_run: done" in log
