import pytest

from n2n_utils.pipeline import NOTEBOOKS, run_pipeline
from n2n_utils.profiles import PROFILES, get_profile, output_dirs


def test_profiles_grow_and_env_overrides(monkeypatch):
    smoke, quick, full = PROFILES["smoke"], PROFILES["quick"], PROFILES["full"]
    assert smoke.n_train < quick.n_train < full.n_train == 50_000
    assert len(quick.sweep_seeds) >= 3 and 8e-4 in quick.lr_grid and 8 in quick.batch_grid
    monkeypatch.delenv("N2N_PROFILE", raising=False)
    assert get_profile("quick").name == "quick"
    monkeypatch.setenv("N2N_PROFILE", "smoke")
    assert get_profile("quick").name == "smoke"
    monkeypatch.setenv("N2N_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        get_profile("quick")


def test_output_dirs(tmp_path):
    dirs = output_dirs("smoke", tmp_path)
    assert dirs.figures == tmp_path / "figures" and dirs.results.is_dir() and dirs.runs.is_dir()


def test_pipeline_refuses_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="unknown profile"):
        run_pipeline("medium", out=tmp_path)
    with pytest.raises(ValueError, match="not a notebook of the study"):
        run_pipeline("smoke", notebooks=["99_missing.ipynb"], out=tmp_path)
    with pytest.raises(ValueError, match="unknown device"):
        run_pipeline("smoke", device="tpu", out=tmp_path)
    assert NOTEBOOKS == sorted(NOTEBOOKS)  # executed in order
