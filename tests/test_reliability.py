"""Issue 12: bad input loses nothing and never passes silently. Each test here failed before
the fix it names; the refusals are one line `n2n: error: ...` naming the file (test_cli.py's
helpers), decided before anything is written or computed."""

from __future__ import annotations

import errno
import io
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from n2n_utils import course
from n2n_utils.__main__ import main
from n2n_utils.course import FOLDER, export_course
from n2n_utils.course_template.model import Model as CourseModel
from n2n_utils.data import DataFileError, load_dataset, load_pair_file
from n2n_utils.files import save_torch
from n2n_utils.runs import TrainConfig, load_training_checkpoint
from n2n_utils.training import train
from n2n_utils.weights import load_weights, read_weights
from tests.conftest import course_folder
from tests.test_cli import assert_bad_option, assert_one_line_error, photo, run

ROOT = Path(__file__).resolve().parents[1]


def shipped_with(tmp_path: Path, name: str, change) -> Path:
    """A copy of the shipped weights file, passed through `change(blob)` first."""
    blob = read_weights()
    blob = {"state_dict": dict(blob["state_dict"]), "config": dict(blob["config"]), "card": dict(blob["card"])}
    change(blob)
    return save_torch(blob, tmp_path / name)


# ----------------------------------------------------------------- 1. data loss with --overwrite


def test_overwrite_never_replaces_an_input_that_is_read_later(tmp_path, capsys):
    first = photo(tmp_path / "a.png")
    second = photo(tmp_path / "a_denoised.png", mode="L")  # the user's own file, also an input
    before = second.read_bytes()
    code, _, err = run(capsys, "denoise", "--overwrite", first, second, "--quiet")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("n2n: error: ") for line in lines), err
    assert "a_denoised.png: is also an input" in lines[0] and "is the output of" in lines[1]
    assert second.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_denoised.png"]


# ----------------------------------------------------------------- 2. unusable weights


def test_weights_holding_nan_are_refused_with_the_file_name(tmp_path, capsys):
    bad = shipped_with(tmp_path, "nan.pt", lambda b: b["state_dict"]["final.weight"].view(-1).__setitem__(0, np.nan))
    src = photo(tmp_path / "photo.png")
    assert_one_line_error(*run(capsys, "denoise", src, "--weights", bad, "--quiet")[::2],
                          "nan.pt", "NaN or inf", "final.weight")
    assert not (tmp_path / "photo_denoised.png").exists()


def test_export_course_refuses_weights_that_do_not_fit_and_writes_nothing(tmp_path, capsys):
    bad = shipped_with(tmp_path, "misfit.pt",
                       lambda b: b["state_dict"].__setitem__("enc0.0.weight", torch.zeros(48, 3, 5, 5)))
    assert_one_line_error(*run(capsys, "export-course", tmp_path / "out", "--weights", bad)[::2],
                          "misfit.pt", "enc0.0.weight", "(48, 3, 5, 5)", "(48, 3, 3, 3)")
    assert not (tmp_path / "out" / FOLDER).exists()


def test_export_course_self_check_refuses_a_model_py_that_fails(tmp_path, monkeypatch):
    broken = tmp_path / "model.py"
    broken.write_text(course.TEMPLATE.read_text().replace(
        "check_images(test_input, \"test_input\")", "return test_input[:, :1].float()"))
    monkeypatch.setattr(course, "TEMPLATE", broken)
    with pytest.raises(ValueError, match="fails the self-check"):
        export_course(tmp_path / "out")
    assert not (tmp_path / "out" / FOLDER).exists() and not list((tmp_path / "out").iterdir())


def test_export_course_into_a_file_names_it(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")  # was: "[Errno 17] File exists: 'afile'"
    assert_one_line_error(*run(capsys, "export-course", tmp_path / "afile")[::2],
                          f"{tmp_path / 'afile' / FOLDER}: cannot write", "afile is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "mine"


def test_export_course_overwrite_replaces_the_folder_whole(tmp_path):
    folder = export_course(tmp_path)
    (folder / "stale.txt").write_text("from an older export")
    assert export_course(tmp_path, overwrite=True) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["__init__.py", "bestmodel.pth", "model.py"]
    assert [p.name for p in tmp_path.iterdir()] == [FOLDER]  # no scratch folder left beside it


# ----------------------------------------------------------------- 3. one line, not a traceback


def bare_state_dict() -> dict:
    """What export-course writes as bestmodel.pth: the network's parameters alone."""
    from n2n_utils.models import ResUNet

    return ResUNet().state_dict()


@pytest.mark.parametrize("content, found", [
    (bare_state_dict, "bare state dict"),
    (lambda: [1, 2, 3], "list"),
    (lambda: read_weights(), "shipped weights"),
    (None, "bestmodel.pth: not a torch file"),
])
def test_train_refuses_a_file_that_is_not_a_training_checkpoint(tmp_path, capsys, monkeypatch, content, found):
    from n2n_utils import data

    path = tmp_path / "bestmodel.pth"
    if content is None:
        path.write_bytes(os.urandom(256))
    else:
        torch.save(content(), path)
    course_folder(tmp_path / "data")
    # refused before the data are made (natural32's 50,000 default crops took 20 s before the refusal)
    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data made before the checkpoint was read"))
    assert_one_line_error(*run(capsys, "train", "--checkpoint", path, "--dataset", tmp_path / "data",
                               "--epochs", "1")[::2], "bestmodel.pth", found,
                          *(("not a training checkpoint",) if content else ()))


def test_ensemble_with_a_card_that_is_not_a_mapping(tmp_path, capsys):
    bad = shipped_with(tmp_path, "listcard.pt", lambda b: b.__setitem__("card", ["not", "a", "dict"]))
    src = photo(tmp_path / "photo.png")
    assert_one_line_error(*run(capsys, "denoise", src, "--ensemble", "--weights", bad, "--quiet")[::2],
                          "listcard.pt", "card should be a mapping")


def test_a_state_dict_of_the_wrong_shape_names_file_tensor_and_shapes(tmp_path):
    bad = shipped_with(tmp_path, "wide.pt", lambda b: b["state_dict"].__setitem__("final.bias", torch.zeros(4)))
    with pytest.raises(ValueError) as err:
        load_weights(bad, "cpu")
    message = str(err.value)
    assert "\n" not in message
    assert all(s in message for s in ("wide.pt", "final.bias", "(4,)", "(3,)")), message


def test_resuming_a_checkpoint_whose_network_does_not_fit_names_the_tensor(tmp_path, capsys):
    data = course_folder(tmp_path / "data", n_train=4, n_val=2)
    args = ["train", "--checkpoint", tmp_path / "c.pt", "--dataset", data, "--batch-size", "4",
            "--precision", "fp32", "--device", "cpu"]
    assert run(capsys, *args, "--epochs", "1")[0] == 0
    ckpt = load_training_checkpoint(tmp_path / "c.pt")
    ckpt["model"]["dec1.0.0.weight"] = torch.zeros(64, 99, 1, 1)
    torch.save(ckpt, tmp_path / "c.pt")
    assert_one_line_error(*run(capsys, *args, "--epochs", "2")[::2],
                          "c.pt", "dec1.0.0.weight", "(64, 99, 1, 1)", "(64, 99, 3, 3)")


# ----------------------------------------------------------------- 4. errors at load time


def test_an_empty_validation_set_is_refused_at_load_time(tmp_path, capsys):
    folder = course_folder(tmp_path / "course", n_val=0)
    with pytest.raises(DataFileError, match="val_data.pkl: holds no images"):
        load_dataset(folder)
    ok = course_folder(tmp_path / "ok")
    assert assert_bad_option(capsys, "train", "--checkpoint", tmp_path / "c.pt", "--dataset", ok,
                             "--n-val", "0").endswith("--n-val 0: needs at least 1")
    assert not (tmp_path / "c.pt").exists()
    data = load_dataset(ok)
    data.val_input, data.val_clean = data.val_input[:0], data.val_clean[:0]
    with pytest.raises(ValueError, match="validation set is empty"):  # before any epoch is trained
        train(data, TrainConfig(epochs=1, progress=False, device="cpu"), checkpoint=tmp_path / "d.pt")
    assert not (tmp_path / "d.pt").exists()


def test_images_the_network_cannot_train_on_are_refused_at_load_time(tmp_path):
    folder = course_folder(tmp_path / "course", size=33)
    with pytest.raises(DataFileError, match="train_data.pkl: images are 33x33 pixels.*multiples of 32"):
        load_dataset(folder)


# ----------------------------------------------------------------- 5. messages that mislead


def test_random_bytes_are_not_a_torch_file_and_no_message_advises_weights_only_false(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    messages = []
    for call in (lambda: load_pair_file(junk, ("a", "b")), lambda: load_weights(junk, "cpu")):
        with pytest.raises(ValueError) as err:
            call()
        messages.append(str(err.value))
    hostile = tmp_path / "hostile.pt"
    torch.save({"path": Path("x")}, hostile)  # a Python object: refusing it is the protection
    with pytest.raises(ValueError) as err:
        load_weights(hostile, "cpu")
    messages.append(str(err.value))
    code, _, cli_err = run(capsys, "denoise", photo(tmp_path / "p.png"), "--weights", hostile, "--quiet")
    assert_one_line_error(code, cli_err, "hostile.pt", "refused")
    messages.append(cli_err)
    for message in messages[:2]:
        assert "junk.pt: not a torch file" in message and "code" not in message, message
    assert "refused" in messages[2] and "PosixPath" in messages[2]
    for message in messages:
        assert "weights_only" not in message and "\n" not in message.strip(), message


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be made")
def test_an_unwritable_output_is_refused_before_any_computing(tmp_path, capsys, monkeypatch):
    def no_network(*_, **__):
        raise AssertionError("the network was loaded for an output that cannot be written")

    monkeypatch.setattr("n2n_utils.__main__.read_weights", no_network)
    src = photo(tmp_path / "photo.png")
    assert_one_line_error(*run(capsys, "denoise", src, "-o", "/proc/n2n-out.png", "--quiet")[::2],
                          "/proc/n2n-out.png", "cannot write")


def test_a_full_disk_names_the_output(tmp_path, capsys, monkeypatch):
    def full(self, *_, **__):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    src = photo(tmp_path / "photo.png")
    monkeypatch.setattr(Image.Image, "save", full)
    assert_one_line_error(*run(capsys, "denoise", src, "-o", tmp_path / "out.png", "--quiet")[::2],
                          "out.png: cannot write", "No space left")
    assert [p.name for p in tmp_path.iterdir()] == ["photo.png"]  # no half file


def test_zero_epochs_is_refused(tmp_path, capsys):
    folder = course_folder(tmp_path / "course")
    assert assert_bad_option(capsys, "train", "--checkpoint", tmp_path / "c.pt", "--dataset", folder,
                             "--epochs", "0").endswith("--epochs 0: needs at least 1")
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.parametrize(("option", "phrase"), [(("--lr", "inf"), "--lr inf: needs finite, above 0"),
                                                (("--seed", "-1"), "--seed -1: needs 0 or more")])
def test_a_learning_rate_or_seed_out_of_range_is_refused_by_name(tmp_path, capsys, monkeypatch, option, phrase):
    # --lr inf trained NaN weights and exited 0; --seed -1 said only "expected non-negative integer"
    from n2n_utils import data

    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data made before the options were checked"))
    assert assert_bad_option(capsys, "train", "--checkpoint", tmp_path / "c.pt", *option).endswith(phrase)
    assert not (tmp_path / "c.pt").exists()


@pytest.mark.parametrize(("weights_dir", "name", "phrase"), [
    ("file", "mine", "cannot write"),           # was found only after training: "[Errno 17] File exists"
    # bad options (status 2):
    ("weights", "sub/mine", "--export 'sub/mine': not a weights name"),  # was written to weights/sub/, where
    ("weights", "", "--export '': not a weights name"),  # list-weights misses it; was no export at all, status 0
])
def test_an_export_that_cannot_be_written_is_refused_before_training(tmp_path, capsys, monkeypatch,
                                                                      weights_dir, name, phrase):
    from n2n_utils import data

    (tmp_path / "file").write_text("")
    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data made before --export was checked"))
    argv = ("train", "--checkpoint", tmp_path / "c.pt", "--dataset", course_folder(tmp_path / "d"),
            "--epochs", "1", "--export", name, "--weights-dir", tmp_path / weights_dir)
    if phrase.startswith("--"):
        assert phrase in assert_bad_option(capsys, *argv)
    else:
        assert_one_line_error(*run(capsys, *argv)[::2], phrase)
    assert not (tmp_path / "c.pt").exists() and not (tmp_path / "weights").exists()


def test_weights_whose_output_overflows_stop_training_and_export_nothing(tmp_path, capsys):
    # --lr 1e30: the loss of the one step was finite, the weights after it too, but their output is not;
    # the run said "validation PSNR nan dB", exported the weights and exited 0
    code, _, err = run(capsys, "train", "--checkpoint", tmp_path / "c.pt", "--dataset", course_folder(tmp_path / "d"),
                       "--epochs", "1", "--lr", "1e30", "--precision", "fp32", "--export", "big",
                       "--weights-dir", tmp_path / "w")
    assert code == 1 and "Traceback" not in err
    last = err.strip().splitlines()[-1]  # after the progress bar, on a line of its own
    assert last.startswith("n2n: error: training diverged") and "after epoch 1" in last, err
    assert not (tmp_path / "c.pt").exists() and not (tmp_path / "w").exists()


def test_crop_on_course_files_of_another_size_does_not_call_them_32x32(tmp_path, capsys):
    folder = course_folder(tmp_path / "d", size=64)  # was: "d has 32x32 ones"
    assert assert_bad_option(capsys, "train", "--checkpoint", tmp_path / "c.pt", "--dataset", folder,
                             "--crop", "64").endswith(f"--crop 64: only natural32 cuts crops of another size; {folder} "
                                                      f"keeps its own")
    assert not (tmp_path / "c.pt").exists()


def test_export_weights_names_the_file_it_cannot_write(tmp_path, capsys):
    checkpoint = tmp_path / "c.pt"
    train(load_dataset(course_folder(tmp_path / "d")), TrainConfig(epochs=1, progress=False), checkpoint=checkpoint)
    (tmp_path / "file").write_text("")
    assert_one_line_error(*run(capsys, "export-weights", checkpoint, "--profile", "test", "--name", "mine",
                               "--weights-dir", tmp_path / "file")[::2], "file/mine.pt: cannot write")


def test_exported_weights_are_replaced_only_when_asked(tmp_path, capsys, monkeypatch):
    """export-weights's default name is the shipped default's: without --overwrite an export of
    an existing name is refused (train: before any data are made), and the file is untouched."""
    from n2n_utils import data
    from n2n_utils.weights import DEFAULT_WEIGHTS, weights_path

    checkpoint, weights = tmp_path / "c.pt", tmp_path / "w"
    train(load_dataset(course_folder(tmp_path / "d")), TrainConfig(epochs=1, progress=False), checkpoint=checkpoint)
    weights.mkdir()
    shutil.copy(weights_path(DEFAULT_WEIGHTS), weights / f"{DEFAULT_WEIGHTS}.pt")
    before = (weights / f"{DEFAULT_WEIGHTS}.pt").read_bytes()
    assert_one_line_error(*run(capsys, "export-weights", checkpoint, "--profile", "test",
                               "--weights-dir", weights)[::2], f"{DEFAULT_WEIGHTS}.pt: weights of this name exist")
    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data made before --export was checked"))
    assert_one_line_error(*run(capsys, "train", "--checkpoint", tmp_path / "new.pt", "--export", DEFAULT_WEIGHTS,
                               "--weights-dir", weights)[::2], "or overwrite to replace them")
    assert (weights / f"{DEFAULT_WEIGHTS}.pt").read_bytes() == before and not (tmp_path / "new.pt").exists()
    code, out, _ = run(capsys, "export-weights", checkpoint, "--profile", "test", "--weights-dir", weights,
                       "--overwrite")
    assert code == 0 and (weights / f"{DEFAULT_WEIGHTS}.pt").read_bytes() != before


def test_a_float_tiff_is_an_unsupported_image_not_a_non_image(tmp_path, capsys):
    import tifffile

    src = tmp_path / "float.tif"
    tifffile.imwrite(src, np.zeros((8, 8, 3), np.float32), photometric="rgb")
    assert_one_line_error(*run(capsys, "denoise", src, "--quiet")[::2],
                          "float.tif", "unsupported TIFF", "32-bit floating-point")


# ----------------------------------------------------------------- 6. surprises


def test_a_file_name_for_several_outputs_is_refused(tmp_path, capsys):
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.png")
    line = assert_bad_option(capsys, "denoise", a, b, "-o", tmp_path / "single.png", "--quiet")
    assert f"-o {tmp_path / 'single.png'}: names one file, but 2 inputs" in line and "folder" in line
    assert not (tmp_path / "single.png").exists()


@pytest.mark.parametrize("suffix", [".bmp", ".png"])
def test_a_rotated_photo_displays_as_the_input_did(tmp_path, capsys, suffix):
    src = tmp_path / "rotated.jpg"
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8))
    exif = image.getexif()
    exif[0x0112] = 6  # display turned 90 degrees clockwise
    image.save(src, exif=exif.tobytes(), quality=95)
    dst = tmp_path / f"out{suffix}"
    code, _, err = run(capsys, "denoise", src, "-o", dst, "--quiet")
    assert code == 0, err
    with Image.open(src) as a, Image.open(dst) as b:
        assert ImageOps.exif_transpose(b).size == ImageOps.exif_transpose(a).size == (40, 64)


@pytest.mark.parametrize("shape", [(1, 1, 32, 32), (1, 4, 32, 32), (3, 32, 32), (1, 3, 0, 32), (2, 3, 32)])
def test_exported_predict_states_its_contract(shape):
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*0-255"):
        CourseModel().predict(torch.zeros(shape, dtype=torch.uint8))


def test_exported_predict_refuses_values_outside_0_255():
    with pytest.raises(ValueError, match="values -1 to"):
        CourseModel().predict(torch.full((1, 3, 8, 8), -1.0))


def test_exported_model_refuses_nan_as_outside_0_255():
    """NaN compares false both ways, so it passed the 0-255 check: predict returned NaN, and
    train turned every weight into NaN without a word."""
    model, nan = CourseModel(), torch.full((1, 3, 8, 8), 100.0)
    nan[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match=r"test_input should be .*0-255.*; got NaN"):
        model.predict(nan)
    before = [p.clone() for p in model.model.parameters()]
    with pytest.raises(ValueError, match=r"train_target should be .*0-255.*; got NaN"):
        model.train(torch.zeros_like(nan), nan, 1)
    assert all(torch.equal(p, q) for p, q in zip(model.model.parameters(), before, strict=True))


# ----------------------------------------------------------------- the image round trip, by property

MODES_FORMATS = [("L", "PNG"), ("LA", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("I;16", "PNG"),
                 ("L", "TIFF"), ("LA", "TIFF"), ("RGB", "TIFF"), ("RGBA", "TIFF"), ("I;16", "TIFF"),
                 ("L", "JPEG"), ("RGB", "JPEG")]  # the pairs Pillow can write
SUFFIX = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg"}


def _image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    return Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), "RGBA").convert(mode)


@settings(max_examples=12, deadline=None)
@given(mode_format=st.sampled_from(MODES_FORMATS), width=st.integers(1, 300), height=st.integers(1, 7),
       transpose=st.booleans(), seed=st.integers(0, 2**16))
def test_denoise_keeps_size_mode_depth_and_alpha_or_says_why(mode_format, width, height, transpose, seed):
    mode, fmt = mode_format
    width, height = (height, width) if transpose else (width, height)  # 1x1 to 300x7 and 7x300
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"in{SUFFIX[fmt]}"
        _image(mode, width, height, seed).save(src, format=fmt)
        err = io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(sys, "stderr", err)
            mp.setattr(sys, "stdout", io.StringIO())
            code = main(["denoise", str(src), "--quiet", "--precision", "fp32"])
        if code != 0:
            lines = err.getvalue().strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("n2n: error: "), err.getvalue()
            return
        with Image.open(src) as a, Image.open(Path(tmp) / f"in_denoised{SUFFIX[fmt]}") as b:
            assert (b.size, b.mode, b.format) == (a.size, a.mode, a.format)
            assert np.asarray(b).dtype == np.asarray(a).dtype
            if "A" in mode:
                assert np.array_equal(np.asarray(a)[..., -1], np.asarray(b)[..., -1])


# ----------------------------------------------------------------- interrupted training resumes exactly

CHILD = """
import sys
import torch
from n2n_utils.__main__ import main

step = torch.optim.Adam.step
def reporting_step(self, *args, **kwargs):  # tell the parent each step, so it can kill at one
    out = step(self, *args, **kwargs)
    print("step", flush=True)
    return out
torch.optim.Adam.step = reporting_step
sys.exit(main(sys.argv[1:]))
"""


def _start(checkpoint: Path, data: Path) -> subprocess.Popen:
    """Start `n2n train` (3 epochs of 4 steps, one thread) in a subprocess that prints a line
    at each optimizer step."""
    args = ["train", "--checkpoint", str(checkpoint), "--dataset", str(data), "--epochs", "3",
            "--batch-size", "4", "--lr-schedule", "cosine", "--augment", "dihedral", "channel_permutation",
            "--precision", "fp32", "--device", "cpu", "--seed", "3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "N2N_CACHE_DIR": str(checkpoint.parent / "cache")}  # the layout's timing: this test's own
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)


def _finish(child: subprocess.Popen, kill_after: int | None = None) -> int:
    """Wait for a _start-ed run; with kill_after, SIGKILL it after that many optimizer steps
    (the checkpoint is written only at epoch ends). Returns its exit status."""
    steps = 0
    for line in child.stdout:
        steps += line.startswith("step")
        if kill_after is not None and steps == kill_after:
            child.send_signal(signal.SIGKILL)
            break
    child.stdout.close()
    return child.wait()


def test_training_killed_at_a_random_step_resumes_to_bit_identical_weights(tmp_path):
    data = course_folder(tmp_path / "data", n_train=16, n_val=4)  # 4 steps an epoch, 12 in all
    # the uninterrupted run first: it times the layouts (one thread: a near tie) and caches the
    # answer, which the cut run then reads (was: side by side, each timed them under the other's
    # load and, now and then, they chose different layouts, so different sums)
    assert _finish(_start(tmp_path / "whole.pt", data)) == 0
    # after epoch 1's checkpoint (step 4), so that the rerun resumes mid-run; before the last step
    # (12), so that the run cannot end first; step 8 ends epoch 2: the kill meets its checkpoint's write
    kill_after = random.Random(12).randint(5, 11)
    assert _finish(_start(tmp_path / "cut.pt", data), kill_after) == -signal.SIGKILL
    left = load_training_checkpoint(tmp_path / "cut.pt")  # never half-written: it loads after the kill
    assert left["epoch"] in (1, 2)
    assert _finish(_start(tmp_path / "cut.pt", data)) == 0
    whole, cut = load_training_checkpoint(tmp_path / "whole.pt"), load_training_checkpoint(tmp_path / "cut.pt")
    assert cut["epoch"] == whole["epoch"] == 3
    for key, tensor in whole["model"].items():
        assert torch.equal(tensor, cut["model"][key]), key
    for a, b in zip(whole["optimizer"]["state"].values(), cut["optimizer"]["state"].values(), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["train_loss"] for h in whole["history"]] == [h["train_loss"] for h in cut["history"]]


def test_a_csv_that_cannot_be_written_keeps_its_provenance(tmp_path, monkeypatch):
    # was: the .provenance.json was replaced first, so a CSV write that failed left the old CSV
    # beside a record of the new one (its rows, columns, commit and time)
    import pandas as pd

    from n2n_utils.files import write_csv

    path = write_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1, 2]}), profile="first")
    before = path.read_text(), path.with_suffix(".provenance.json").read_text()

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_csv(path, pd.DataFrame({"a": [1, 2, 3], "b": [4, 5, 6]}), profile="second")
    assert (path.read_text(), path.with_suffix(".provenance.json").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.provenance.json"]  # no temporary left


def test_an_atomic_write_is_on_the_disk_before_its_rename_and_the_rename_after(tmp_path, monkeypatch):
    # was: os.replace alone, so a power cut could leave the new name on an empty file
    import stat

    from n2n_utils.files import write_json

    calls = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        info = os.fstat(fd)
        calls.append(("fsync folder" if stat.S_ISDIR(info.st_mode) else "fsync file", info.st_ino, info.st_size))
        return fsync(fd)

    def recording_replace(src, dst):
        calls.append(("replace", os.stat(src).st_ino, os.stat(src).st_size))
        return replace(src, dst)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    path = write_json(tmp_path / "r.json", {"psnr": 31.5})
    written = path.stat()
    assert calls == [("fsync file", written.st_ino, written.st_size),  # the bytes, all of them, first
                     ("replace", written.st_ino, written.st_size),
                     ("fsync folder", tmp_path.stat().st_ino, tmp_path.stat().st_size)]


def test_a_folder_that_cannot_be_flushed_is_skipped_silently(tmp_path, monkeypatch):
    import stat

    from n2n_utils.files import write_json

    fsync = os.fsync

    def no_folder_fsync(fd):  # what some file systems (and Windows, which cannot open one) do
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", no_folder_fsync)
    assert write_json(tmp_path / "r.json", {"a": 1}).read_text() == '{\n  "a": 1\n}\n'


def test_results_json_is_strict_json_with_null_for_a_missing_number(tmp_path):
    """A CI of one run (NaN) or a diverged run's PSNR was written as NaN, which Python reads
    back but jq, JavaScript and strict parsers refuse; it is null now, at any depth."""
    from n2n_utils.files import write_json

    record = {"best": 26.1, "ci95": math.nan, "rows": [{"psnr": math.inf, "seed": 0}, (1.5, -math.inf)]}
    text = write_json(tmp_path / "r.json", record).read_text()
    strict = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))
    assert strict == {"best": 26.1, "ci95": None, "rows": [{"psnr": None, "seed": 0}, [1.5, None]]}
