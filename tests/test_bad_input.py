"""Bad and unusual input that a new user tried, beyond the README's table (tests/test_reliability.py):
each gets one line naming the file and the problem, or the right result; never a traceback, and
never a silent wrong result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from n2n_utils import __main__ as cli
from n2n_utils import blind, config, files, report
from n2n_utils.__main__ import main
from n2n_utils.config import ROOT, WEIGHTS_DIR
from n2n_utils.course import Model as CourseModel
from n2n_utils.data import DataFileError, load_dataset
from n2n_utils.models import ResUNet
from n2n_utils.training import TrainConfig
from n2n_utils.weights import DEFAULT_WEIGHTS
from tests.test_cli import assert_bad_option, assert_one_line_error, photo, run


def test_an_empty_weights_option_is_no_weights_not_the_default(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")
    for sigma in ((), ("--sigma", "10")):  # with --sigma, --weights "" must not fall back to the blind weights
        code, out, err = run(capsys, "denoise", src, "--weights", "", *sigma, "--quiet")
        assert_one_line_error(code, err, "no weights ''")
        assert out == ""  # was, with --sigma: 'photo.png: noise sigma 10.0/255; weights ' before the refusal
    assert not list(tmp_path.glob("*_denoised*"))


@pytest.mark.parametrize("argv", [
    ("denoise", "{src}", "-o", ""), ("denoise", ""), ("train", "--checkpoint", ""),
    ("train", "--checkpoint", "{tmp}/c.pt", "--dataset", ""), ("list-weights", "--weights-dir", ""),
    ("export-course", ""), ("export-weights", "", "--profile", "quick"),
])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch, argv):
    """Path("") is ".": `denoise photo.png -o ""` wrote photo.png into the folder the command
    ran in, and `train --checkpoint ""` said that "." is a folder. Every path option refuses it."""
    src = photo(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path / "..")
    before = sorted(Path.cwd().iterdir())
    with pytest.raises(SystemExit) as exit_:
        main([a.format(src=src, tmp=tmp_path) for a in argv])
    assert exit_.value.code == 2
    assert sorted(Path.cwd().iterdir()) == before and sorted(tmp_path.iterdir()) == [src]


def test_list_weights_of_a_folder_that_is_not_there_or_not_a_folder(tmp_path, capsys):
    assert_one_line_error(*run(capsys, "list-weights", "--weights-dir", tmp_path / "nope")[::2],
                          str(tmp_path / "nope"), "folder not found")
    file = photo(tmp_path / "photo.png")
    assert_one_line_error(*run(capsys, "list-weights", "--weights-dir", file)[::2], str(file), "not a folder")


def test_list_weights_names_a_damaged_file_and_lists_the_others(tmp_path, capsys):
    (tmp_path / "broken.pt").write_bytes(b"not a torch file")
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
    good = torch.load(WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.pt", weights_only=True)
    torch.save(good, tmp_path / "good.pt")
    code, out, err = run(capsys, "list-weights", "--weights-dir", tmp_path)
    assert code == 1
    assert out.startswith("good  profile=") and len(out.splitlines()) == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("n2n: error: ") for line in lines), err
    assert "broken.pt" in lines[0] and "not a torch file" in lines[0] and "other.pt" in lines[1]


def test_sigma_auto_refuses_an_image_too_small_to_estimate_the_noise(tmp_path, capsys, monkeypatch):
    """Refused from the file's header, with the other checks, before any weights load or any
    output is written."""
    rng = np.random.default_rng(0)
    row = tmp_path / "row.png"  # pure noise: the wavelet estimate over a single row reads 0
    Image.fromarray(rng.integers(0, 256, (1, 500, 3), dtype=np.uint8)).save(row)
    good = photo(tmp_path / "good.png")
    code, out, err = run(capsys, "denoise", row, good, "--sigma", "auto", "--quiet")
    assert code == 1
    assert_one_line_error(code, err, str(row), "500x1", f"{blind.ESTIMATE_MIN_SIDE} pixels", "--sigma")
    assert not (tmp_path / "row_denoised.png").exists() and (tmp_path / "good_denoised.png").is_file()
    assert "0.0/255" not in out
    loaded = []
    monkeypatch.setattr(cli, "read_weights", lambda *a, **k: loaded.append(a))
    assert_one_line_error(*run(capsys, "denoise", row, "--sigma", "auto", "--quiet")[::2], str(row), "500x1")
    assert loaded == []
    monkeypatch.undo()
    # a level given by hand needs no estimate
    assert run(capsys, "denoise", row, "--sigma", "25", "--quiet")[0] == 0


# --------------------------------------------------------------------------- a folder of photos


def _tiffs(folder: Path, n: int, seed: int = 0) -> Path:
    """n uncompressed 64x48 RGB TIFFs of random pixels: files of one byte size."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"im{i}.tif")
    return folder


def test_a_photo_replaced_by_one_of_the_same_size_and_time_is_other_data(tmp_path, monkeypatch):
    """Uncompressed photos of one size have one byte size, and a copy that keeps times (cp -p,
    tar, rsync -t) keeps the modification time: the cache must still see the new bytes
    (was: keyed by name, size and time, it gave the old photo's crops and digest)."""
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    folder = _tiffs(tmp_path / "photos", 3)
    before = load_dataset(folder, n_train=8, n_val=4, seed=0)
    replaced = folder / before.meta["train_files"][0]
    stat = replaced.stat()
    Image.fromarray(np.full((48, 64, 3), 7, dtype=np.uint8)).save(replaced)
    os.utime(replaced, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert replaced.stat().st_size == stat.st_size and replaced.stat().st_mtime_ns == stat.st_mtime_ns
    after = load_dataset(folder, n_train=8, n_val=4, seed=0)
    assert after.meta["files_digest"] != before.meta["files_digest"]
    assert torch.equal(after.train_clean, load_dataset(folder, n_train=8, n_val=4, seed=0, cache=False).train_clean)
    assert not torch.equal(after.train_clean, before.train_clean)


def test_duplicate_photos_are_refused_naming_both(tmp_path, monkeypatch):
    """A copy of a photo under another name could go to training and its original to validation,
    which would then score photos the network trained on (was: loaded silently)."""
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    folder = _tiffs(tmp_path / "photos", 3)
    shutil.copy(folder / "im1.tif", folder / "copy of im1.tif")
    with pytest.raises(DataFileError, match=r"im1.tif: .*same bytes as copy of im1.tif"):
        load_dataset(folder, n_train=8, n_val=4, seed=0)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_a_photo_that_cannot_be_read_is_named_in_one_line(tmp_path, monkeypatch):
    """A photo without read permission (copied from another user's folder, say) is named with
    the reason (was: Python's own "[Errno 13] Permission denied: '...'" from the digest). The
    permission is denied by a stand-in for open: the tests run as root, who may read anything."""
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    folder = _tiffs(tmp_path / "photos", 3)
    locked = folder / "im1.tif"

    def open_but_not_locked(path, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(files, "open", open_but_not_locked, raising=False)
    with pytest.raises(ValueError) as caught:
        load_dataset(folder, n_train=8, n_val=4, seed=0)
    assert str(caught.value) == f"{locked}: cannot read: Permission denied"


def test_a_copy_replaced_by_other_bytes_of_its_size_and_time_is_no_copy(tmp_path, monkeypatch):
    """The copy check reads the bytes as they are now: a copy, once refused, then overwritten by
    another photo of its size and time (cp -p, tar), loads in the same process (was: refused
    still, filecmp's cache answering by name, size and time)."""
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    folder = _tiffs(tmp_path / "photos", 3)
    copy = folder / "copy of im1.tif"
    shutil.copy(folder / "im1.tif", copy)
    with pytest.raises(DataFileError, match="same bytes"):
        load_dataset(folder, n_train=8, n_val=4, seed=0)
    stat = copy.stat()
    Image.fromarray(np.full((48, 64, 3), 7, dtype=np.uint8)).save(copy)
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert copy.stat().st_size == stat.st_size
    assert len(load_dataset(folder, n_train=8, n_val=4, seed=0).meta["train_files"]) == 3


# --------------------------------------------------------------------------- the report of a reproduction


def _reproduction(root: Path) -> Path:
    """A copy of the committed quick results and figures under `root`, laid out as a reproduction's."""
    for kind in ("results", "figures"):
        shutil.copytree(ROOT / kind / "quick", root / kind / "quick")
    return root


def test_report_of_results_missing_a_table_says_not_run_rather_than_failing(tmp_path):
    """A reproduction whose sweep summary or comparisons table is gone while its record is there
    (a file deleted, or a rerun cut short): the sections say '(not run yet)', and so does not the
    discussion claim anything from them (was: AttributeError on None in the discussion)."""
    root = _reproduction(tmp_path)
    for name in ("lr_sweep_summary", "comparisons"):
        (root / "results" / "quick" / f"{name}.csv").unlink()
    text = report.render(("quick",), root / "results", root / "figures")
    assert "### Learning rate (Figure 2)\n\n*(not run yet)*" in text
    assert "## 7. Noise2Noise against clean targets and classical denoisers\n\n*(not run yet)*" in text
    discussion = text.split("## 11. Discussion")[1]
    assert "hyperparameters" not in discussion and "Noise2Noise against clean targets" not in discussion


def _report_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "N2N_OUTPUT_ROOT": str(root), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "n2n_utils.report", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_report_names_a_damaged_results_file_in_one_line_and_writes_nothing(tmp_path):
    root = _reproduction(tmp_path)
    damaged = root / "results" / "quick" / "lr_sweep.json"
    damaged.write_text(damaged.read_text()[:100])  # cut short: no atomic writer did this, but a disk or an editor can
    (root / "results" / "quick" / "comparisons.csv").write_bytes(b"")
    for args in ((), ("--check",)):
        result = _report_cli(root, *args)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("report: error: ") and str(damaged) in lines[0], lines
        assert "not JSON" in lines[0]
    assert not (root / "report").exists()
    results = report.Results("quick", root / "results", root / "figures")
    damaged.write_text(json.dumps([1, 2]))  # JSON, but not a record
    with pytest.raises(report.ResultsFileError, match=f"{damaged}: not a results record"):
        results.json("lr_sweep")
    with pytest.raises(report.ResultsFileError, match=r"comparisons.csv: damaged, not a table"):
        results.csv("comparisons")
    damaged.write_bytes(b'{"param": "lr\xff"}')  # not UTF-8
    with pytest.raises(report.ResultsFileError, match=f"{damaged}: damaged, not JSON"):
        results.json("lr_sweep")


def test_report_names_a_damaged_benchmark_file_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """The speed section's benchmark JSON is read as the results files are (was: a traceback
    for a cut file, and a KeyError for one from another version of the benchmark)."""
    benches = shutil.copytree(config.BENCHMARK_RESULTS_DIR, tmp_path / "benchmarks")
    readme = tmp_path / "README.md"
    shutil.copy(report.README_PATH, readme)
    monkeypatch.setattr(config, "BENCHMARK_RESULTS_DIR", benches)
    monkeypatch.setattr(report, "REPORT_PATH", tmp_path / "report.md")
    monkeypatch.setattr(report, "README_PATH", readme)
    damaged = sorted(benches.glob("throughput-*.json"))[0]
    bench = json.loads(damaged.read_text())
    for text, problem in ((damaged.read_text()[:100], "damaged, not JSON"),
                          (json.dumps({k: v for k, v in bench.items() if k != "provenance"}), "no 'provenance'")):
        damaged.write_text(text)
        assert report.main([]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"report: error: {damaged}: {problem}"), lines
        assert lines[0].endswith("rerun `make benchmark`")
    assert not (tmp_path / "report.md").exists() and readme.read_text() == report.README_PATH.read_text()


def test_report_names_a_results_file_from_another_version_in_one_line(tmp_path):
    """A record that lacks a key the report reads, as one written by an older version of the
    study does: one line naming the file and the key (was: a KeyError traceback)."""
    root = _reproduction(tmp_path)
    older = root / "results" / "quick" / "comparisons.json"
    record = json.loads(older.read_text())
    del record["headline"]["n2c"]  # a key inside the record
    older.write_text(json.dumps(record))
    result = _report_cli(root)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (f"report: error: {older}: no 'n2c', which this version of the report reads "
                                     "(written by another version of the study?); rerun the notebook that writes it")
    assert not (root / "report").exists()
    assert report.Results("quick", root / "results", root / "figures").json("comparisons").get("nothing") is None


def test_report_names_a_results_file_that_is_a_folder(tmp_path):
    root = _reproduction(tmp_path)
    for name in ("lr_sweep.json", "comparisons.csv"):
        (root / "results" / "quick" / name).unlink()
        (root / "results" / "quick" / name).mkdir()
    results = report.Results("quick", root / "results", root / "figures")
    with pytest.raises(report.ResultsFileError, match=r"lr_sweep.json: cannot be read \(Is a directory\)$"):
        results.json("lr_sweep")
    with pytest.raises(report.ResultsFileError, match=r"comparisons.csv: cannot be read \(Is a directory\)$"):
        results.csv("comparisons")


def test_report_of_an_output_root_that_is_not_there_is_refused(tmp_path):
    """A mistyped N2N_OUTPUT_ROOT rendered a report of nothing ('not run yet' in every section)
    into a folder it made; now it says the results folder is not there."""
    result = _report_cli(tmp_path / "reproduced" / "quick-typo")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"report: error: {tmp_path / 'reproduced' / 'quick-typo' / 'results'}: "
                                     f"folder not found: nothing to render (is N2N_OUTPUT_ROOT right?)")
    assert not (tmp_path / "reproduced").exists()


# --------------------------------------------------------------------------- the course's Model


@pytest.mark.parametrize("epochs", [-1, 1.5, "2", None])
def test_exported_train_refuses_a_number_of_epochs_that_is_not_one(epochs):
    """(was: -1 trained nothing without a word; 1.5 Python's 'float object cannot be interpreted as an integer')"""
    model, pairs = CourseModel(), torch.zeros((2, 3, 8, 8), dtype=torch.uint8)
    before = [p.clone() for p in model.model.parameters()]
    with pytest.raises(ValueError, match=rf"num_epochs should be a whole number, 0 or more; got {epochs!r}"):
        model.train(pairs, pairs, epochs)
    assert all(torch.equal(a, b) for a, b in zip(before, model.model.parameters(), strict=True))


def test_exported_train_takes_numpy_and_zero_epochs():
    model, pairs = CourseModel(), torch.zeros((2, 3, 8, 8), dtype=torch.uint8)
    model.train(pairs, pairs, np.int64(0))
    model.train(pairs, pairs, 0)


# --------------------------------------------------------------------------- weights files


def _weights_with(tmp_path: Path, state: dict) -> Path:
    blob = torch.load(WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.pt", weights_only=True)
    path = tmp_path / "odd.pt"
    torch.save({**blob, "state_dict": state}, path)
    return path


def test_weights_whose_values_are_not_tensors_name_the_first(tmp_path, capsys):
    """(was: 'should be a mapping of names to tensors, found dict': a dict it was)"""
    names = list(ResUNet().state_dict())
    weights = _weights_with(tmp_path, {name: 1.0 for name in names})
    src = photo(tmp_path / "photo.png")
    assert_one_line_error(*run(capsys, "denoise", src, "--weights", weights, "--quiet")[::2],
                          str(weights), f"{names[0]} is a float, not a tensor")


def test_weights_of_integers_are_refused_not_cast(tmp_path, capsys):
    """Integer tensors of the right shapes were cast into the network without a word."""
    state = {k: v.round().long() for k, v in ResUNet().state_dict().items()}
    weights = _weights_with(tmp_path, state)
    src = photo(tmp_path / "photo.png")
    assert_one_line_error(*run(capsys, "denoise", src, "--weights", weights, "--quiet")[::2],
                          str(weights), f"{next(iter(state))} holds torch.int64", "floating point")
    assert not (tmp_path / "photo_denoised.png").exists()


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_a_device_that_is_not_here_is_named_as_the_option(tmp_path, capsys):
    """(was: torch's 'PyTorch is not linked with support for mps devices', after the plan, naming
    neither the option nor the device)"""
    src = photo(tmp_path / "photo.png")
    assert assert_bad_option(capsys, "denoise", src, "--device", "mps", "--quiet").endswith(
        "error: --device mps: MPS is not available here")
    cuda = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, or CUDA absent
    assert f"error: --device {cuda}: " in assert_bad_option(capsys, "denoise", src, "--device", cuda, "--quiet")
    assert not (tmp_path / "photo_denoised.png").exists()


@pytest.mark.parametrize("device", ["meta", "xpu", "hpu", "gpu", "cuda0"])
def test_a_device_kind_the_tool_does_not_run_on_is_refused(tmp_path, capsys, device):
    """torch names more kinds than cpu, cuda and mps (was: a traceback, 'Cannot copy out of meta
    tensor' or 'Torch not compiled with XPU enabled', after the plan); a name torch does not
    know gets our choices, not torch's list of twenty device types."""
    src = photo(tmp_path / "photo.png")
    line = assert_bad_option(capsys, "denoise", src, "--device", device, "--quiet")
    assert f"--device {device}: " in line and line.endswith("choose auto, cpu, cuda, cuda:N or mps")
    assert "mkldnn" not in line
    assert not (tmp_path / "photo_denoised.png").exists()


def test_reading_a_folder_of_photos_shows_progress(tmp_path, monkeypatch):
    """A folder of phone photos takes minutes to read and crop before the first training step (8
    photos of 12 MP: 49 s on the loaded 2-core machine); it was silent all that time."""
    from n2n_utils.data import folders

    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")
    bars = []
    real = folders.tqdm
    monkeypatch.setattr(folders, "tqdm", lambda items, **kw: bars.append((len(items), kw)) or real(items, **kw))
    folder = _tiffs(tmp_path / "photos", 3)
    data = load_dataset(folder, n_train=8, n_val=4, seed=0)
    counts = sorted(n for n, _ in bars)  # one bar for the training photos, one for the validation ones
    assert counts == sorted([len(data.meta["train_files"]), len(data.meta["val_files"])])
    assert all(kw["unit"] == "photo" and kw["disable"] is None for _, kw in bars)


@pytest.mark.parametrize("param", ["=15", " =15", "sigma=", "sigma"])
def test_a_noise_param_without_a_name_or_a_value_is_a_bad_option(tmp_path, capsys, param):
    # was, for "=15": past the parser, then "noise 'gaussian' has no parameter ['']" from the data
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--checkpoint", str(tmp_path / "c.pt"), "--noise-param", param])
    assert exit_.value.code == 2 and "give NAME=VALUE, e.g. sigma=15" in capsys.readouterr().err
    assert not (tmp_path / "c.pt").exists()


# --------------------------------------------------------------------------- denoise's inputs


def test_a_truncated_png_is_named_in_one_line_and_the_others_run(tmp_path, capsys):
    """A PNG cut short (a download that stopped): Pillow reads the header, then fails while the
    EXIF is looked for at the file's end (was: 'n2n: error: image file is truncated', no file named)."""
    whole = photo(tmp_path / "whole.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[:len(whole) // 2])
    good = photo(tmp_path / "good.png")
    code, _, err = run(capsys, "denoise", cut, good, "--quiet")
    assert_one_line_error(code, err, f"{cut}: cannot decode", "truncated")
    assert not (tmp_path / "cut_denoised.png").exists() and (tmp_path / "good_denoised.png").is_file()


def test_an_image_without_read_permission_is_named_with_the_reason(tmp_path, capsys, monkeypatch):
    """(was: '...: cannot open: [Errno 13] Permission denied: '...'', the file named twice.) The
    permission is denied by a stand-in for open: the tests run as root, who may read anything."""
    import builtins

    locked, good = photo(tmp_path / "locked.png"), photo(tmp_path / "good.png")
    real_open = builtins.open

    def open_but_not_locked(path, *args, **kwargs):
        if isinstance(path, (str, Path)) and Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_but_not_locked)
    code, _, err = run(capsys, "denoise", locked, good, "--quiet")
    monkeypatch.undo()
    assert err.strip() == f"n2n: error: {locked}: cannot read: Permission denied" and code == 1
    assert (tmp_path / "good_denoised.png").is_file()


def test_an_input_given_twice_is_denoised_once_and_said_so(tmp_path, capsys):
    """`denoise a.png b.png a.png` (a glob and a name, say): a.png is denoised once, and the
    second is refused naming it (was: 'a_denoised.png: is the output of an earlier input too')."""
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.png")
    code, out, err = run(capsys, "denoise", a, b, tmp_path / ".." / tmp_path.name / "a.png", "--quiet")
    assert_one_line_error(code, err, "a.png: given twice; denoised once, into ", "a_denoised.png")
    assert out.count("a.png -> ") == 1 and (tmp_path / "a_denoised.png").is_file()
    assert (tmp_path / "b_denoised.png").is_file()


def test_two_inputs_of_one_output_name_both(tmp_path, capsys):
    """photo.ppm and photo.png both give photo_denoised.png (PPM is written as PNG): the second is
    refused naming itself, the output and the first (was: the output only)."""
    first, second = photo(tmp_path / "photo.ppm"), photo(tmp_path / "photo.png")
    code, _, err = run(capsys, "denoise", first, second, "--quiet")
    assert_one_line_error(code, err, f"{second}: its output {tmp_path / 'photo_denoised.png'} is {first}'s too; "
                         "denoise it in a call of its own, with its own -o")
    assert (tmp_path / "photo_denoised.png").is_file()


def test_an_existing_file_as_the_output_folder_of_several_inputs_is_one_line(tmp_path, capsys):
    """-o naming an existing file for several inputs (was: one error per input, each saying its
    output's folder is a file)."""
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.png")
    (tmp_path / "results").write_text("not a folder")
    line = assert_bad_option(capsys, "denoise", a, b, "-o", tmp_path / "results", "--quiet")
    assert f"-o {tmp_path / 'results'}: is one file, but 2 inputs were given" in line
    assert (tmp_path / "results").read_text() == "not a folder"


@pytest.mark.parametrize("argv", [("denoise", "{src}", "--quiet", "--sigma"),
                                  ("train", "--checkpoint", "{tmp}/c.pt", "--n-train", "16", "--n-val", "8",
                                   "--epochs", "1", "--batch-size", "16", "--noise-param")])
@pytest.mark.parametrize("value, said", [
    ("0.1", "'{p}0.1': a sigma in grey levels of 255, and 0.1 is under one; for 0.1 in 0-1 units give 25.5"),
    ("300", "'{p}300': a sigma in grey levels of 255, 0 or from 1 to under 255 (e.g. 25)"),
    ("-5", "'{p}-5': a sigma in grey levels of 255, 0 or from 1 to under 255 (e.g. 25)"),
    ("nan", "'{p}nan': a sigma in grey levels of 255, 0 or from 1 to under 255 (e.g. 25)"),
])
def test_a_sigma_in_0_1_units_or_out_of_range_is_a_bad_option(tmp_path, capsys, argv, value, said):
    """Sigmas are given in grey levels of 255, but the code and scikit-image hold them in 0-1:
    `--sigma 0.1` was read as 0.1/255 (the blind weights, not the sigma-25 ones that 0.1 = 25.5/255
    calls for), and `train --noise-param sigma=0.1` trained on no noise (noisy input 100 dB)."""
    src = photo(tmp_path / "photo.png")
    prefix = "sigma=" if argv[-1] == "--noise-param" else ""
    with pytest.raises(SystemExit) as stop:
        main([a.format(src=src, tmp=tmp_path) for a in argv] + [prefix + value])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().endswith(said.format(p=prefix))
    assert sorted(tmp_path.iterdir()) == [src]


def test_a_sigma_of_0_or_1_is_taken(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")
    for sigma in ("0", "1"):
        code, out, err = run(capsys, "denoise", src, "--sigma", sigma, "--quiet", "-o", tmp_path / f"s{sigma}.png")
        assert code == 0, err
        assert f"noise sigma {sigma}.0/255; weights {blind.BLIND_WEIGHTS}" in out


# --------------------------------------------------------------------------- weights


def _checkpoint(path: Path) -> Path:
    torch.save({"model": ResUNet().state_dict(), "config": TrainConfig().to_dict(), "epoch": 0, "history": [],
                "data": {"name": "natural32"}}, path)
    return path


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "twenty"])
def test_export_weights_refuses_a_noisy_psnr_that_is_no_number(tmp_path, capsys, value):
    """(was: taken, and the card and list-weights said 'noisy=nan dB')"""
    checkpoint = _checkpoint(tmp_path / "c.pt")
    with pytest.raises(SystemExit) as stop:
        main(["export-weights", str(checkpoint), "--profile", "p", "--name", "w", "--weights-dir", str(tmp_path),
              f"--val-psnr-noisy={value}"])
    assert stop.value.code == 2 and "a finite number" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [checkpoint]


def test_a_weights_name_ending_in_pt_is_refused(tmp_path, capsys):
    """(was: `--name mine.pt` wrote mine.pt.pt, to be used as --weights mine.pt)"""
    checkpoint = _checkpoint(tmp_path / "c.pt")
    assert assert_bad_option(capsys, "export-weights", checkpoint, "--profile", "p", "--name", "mine.pt",
                             "--weights-dir", tmp_path).endswith("--name 'mine.pt': give the name without .pt (mine): "
                                                                 "the file is NAME.pt")
    assert sorted(tmp_path.iterdir()) == [checkpoint]


def test_a_bare_state_dict_as_weights_says_what_it_lacks(tmp_path, capsys):
    """The course's bestmodel.pth (export-course writes one) holds the network's tensors only
    (was: 'not a weights file: expected keys state_dict, config, card ...')."""
    bare = tmp_path / "bestmodel.pth"
    torch.save(ResUNet().state_dict(), bare)
    src = photo(tmp_path / "photo.png")
    code, _, err = run(capsys, "denoise", src, "--weights", bare, "--quiet")
    assert_one_line_error(code, err, f"{bare}: only a network's tensors (a bare state dict",
                          "give the weights file or training checkpoint it came from")
    assert not (tmp_path / "photo_denoised.png").exists()


@pytest.mark.parametrize(("options", "line"), [
    (("--mix-deadleaves", "2"), "--mix-deadleaves 2: a fraction of the training pairs, 0-1"),
    (("--dataset", "deadleaves32", "--mix-deadleaves", "0.5"), "--mix-deadleaves 0.5: deadleaves32 trains on dead"),
    (("--crop", "64", "--mix-deadleaves", "0.5"), "--crop 64: dead leaves are 32x32"),
    (("--batch-size", "0"), "--batch-size 0: needs at least 1"),
    (("--noise", "speckle"), "--noise speckle: unknown noise 'speckle'; choose one of gaussian,"),
    (("--noise", "poisson", "--noise-param", "lam=-1"), "--noise-param lam: noise 'poisson': lam=-1 is outside"),
    (("--device", "meta"), "--device meta: not one this tool runs on"),
])
def test_a_train_option_out_of_range_is_a_bad_option(tmp_path, capsys, monkeypatch, options, line):
    """Every value out of range is refused as argparse refuses a malformed one: the usage, one line
    naming the option as typed, status 2, before any data are made (was: status 1, and the library's
    names: 'mix_deadleaves is a fraction ...', 'unknown noise', 'training option batch_size=0')."""
    from n2n_utils import data

    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data made before the options were checked"))
    assert line in assert_bad_option(capsys, "train", "--checkpoint", tmp_path / "c.pt", *options)
    assert not (tmp_path / "c.pt").exists()
