"""The command line: `python -m n2n_utils denoise ...` and friends. Every refusal is one line
on stderr, a non-zero exit, no traceback, and leaves the input file as it was."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from n2n_utils import images, inference
from n2n_utils.__main__ import main
from n2n_utils.course import FOLDER
from n2n_utils.models import ResUNet
from n2n_utils.training import TrainConfig
from n2n_utils.weights import DEFAULT_WEIGHTS, SUFFIX
from tests.conftest import course_folder


def photo(path: Path, mode: str = "RGB", size: tuple[int, int] = (64, 48), **save) -> Path:
    """A small random image file; `size` is (width, height) as Pillow has it."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    rgb.convert(mode).save(path, **save)
    return path


def png_16bit_rgb(path: Path, h: int = 8, w: int = 8) -> Path:
    """A 16-bit colour PNG, written by hand (Pillow cannot write one): signature, IHDR
    (bit depth 16, colour type 2), one IDAT, IEND."""
    pixels = np.random.default_rng(0).integers(0, 65536, (h, w, 3)).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *phrases: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("n2n: error: "), err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def assert_bad_option(capsys, *argv: str) -> str:
    """Run main(argv), which must refuse an option as argparse does: the usage, then one line
    `n2n COMMAND: error: ...`, status 2. Returns that line."""
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert stop.value.code == 2 and f"usage: n2n {argv[0]} " in err and "Traceback" not in err, err
    assert lines[-1].startswith(f"n2n {argv[0]}: error: "), err
    return lines[-1]


def test_denoise_one_file(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")
    before = src.read_bytes()
    code, out, err = run(capsys, "denoise", src, "-o", tmp_path / "clean.png", "--tile", "64", "--quiet")
    assert code == 0, err
    assert src.read_bytes() == before
    with Image.open(tmp_path / "clean.png") as im:
        assert im.size == (64, 48) and im.mode == "RGB"
    assert "clean.png" in out


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """The files whose pixels Pillow decodes while the test runs, once per decode (Pillow's load
    decodes while the image still has tiles to read, else returns the pixels it holds)."""
    from PIL import ImageFile

    seen: list[Path] = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load",
                        lambda im: (seen.append(Path(im.filename)) if im.tile else None) or load(im))
    return seen


def test_a_grey_image_is_decoded_once_and_its_estimated_level_picks_the_feed(tmp_path, capsys, monkeypatch,
                                                                               decodes):
    """Without --sigma, a grey image's noise level is estimated from the very pixels the network
    then denoises: one decode (was two: the grey feed decoded the file for its estimate, then
    denoise_file decoded it again), and the output is the estimate's feed's."""
    from n2n_utils.blind import estimate_sigma
    from n2n_utils.weights import load_weights, read_weights

    rows, cols = np.mgrid[0:64, 0:80]
    clean = 60 + rows * 1.5 + cols  # smooth: the estimate reads the noise, not edges
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 5, clean.shape), 0, 255).round().astype(np.uint8)
    src, dst = tmp_path / "grey.png", tmp_path / "out.png"
    Image.fromarray(noisy).save(src)
    code, _, err = run(capsys, "denoise", src, "-o", dst, "--precision", "fp32", "--quiet")
    assert code == 0, err
    assert decodes.count(src) == 1
    monkeypatch.undo()
    card = read_weights(DEFAULT_WEIGHTS)["card"]
    feed = inference.grey_shifts(card["noise"], card["noise_params"], estimate_sigma(noisy))
    assert feed == inference.GREY_PLAIN != inference.grey_shifts(card["noise"], card["noise_params"], None)
    expected = inference.denoise_array(load_weights(device="cpu"), noisy, precision="fp32", grey=feed)
    assert np.array_equal(np.array(Image.open(dst)), expected)


def test_denoise_reads_each_weights_file_once(tmp_path, capsys, monkeypatch):
    """The network and its card come from one read of each weights file (was two: load_weights
    read it for the network, read_weights again for the card); --sigma auto has two candidates."""
    from n2n_utils import weights
    from n2n_utils.blind import SIGMA_WEIGHTS

    reads, load = [], weights.load_checkpoint

    def counted(path, *args, **kwargs):
        reads.append(Path(path).stem)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(weights, "load_checkpoint", counted)
    src = photo(tmp_path / "a.png", size=(40, 32))
    code, _, err = run(capsys, "denoise", src, "--sigma", "auto", "--quiet", "-o", tmp_path / "out.png")
    assert code == 0, err
    assert sorted(reads) == sorted(SIGMA_WEIGHTS)


def test_sigma_auto_decodes_each_image_once(tmp_path, capsys, decodes):
    """--sigma auto estimates the level, picks the weights and denoises from one decode of each
    file (was two: one to estimate the level, then denoise_file's own), and says what it picked."""
    a, b = photo(tmp_path / "a.png", size=(40, 32)), photo(tmp_path / "b.png", mode="L", size=(40, 32))
    code, out, err = run(capsys, "denoise", a, b, "--sigma", "auto", "--quiet", "-o", tmp_path / "out")
    assert code == 0, err
    assert decodes.count(a) == decodes.count(b) == 1
    assert all(f"{src}: noise sigma estimated at" in out for src in (a, b))
    assert (tmp_path / "out" / "a.png").is_file() and (tmp_path / "out" / "b.png").is_file()


def test_ensemble_option_changes_the_output_and_keeps_the_size(tmp_path, capsys, monkeypatch):
    calls = []
    real = inference.predict
    monkeypatch.setattr(inference, "predict", lambda *a, **k: calls.append(k["ensemble"]) or real(*a, **k))
    src = photo(tmp_path / "photo.png")
    outputs = {}
    for flag in ([], ["--ensemble"]):
        dst = tmp_path / f"clean{len(flag)}.png"
        code, _, err = run(capsys, "denoise", src, "-o", dst, "--quiet", "--precision", "fp32", *flag)
        assert code == 0, err
        outputs[bool(flag)] = np.asarray(Image.open(dst))
    assert calls[0] == () and calls[-1] == ("dihedral", "inversion")  # the shipped weights are gaussian
    assert outputs[True].shape == outputs[False].shape == (48, 64, 3)
    assert not np.array_equal(outputs[True], outputs[False])


def test_several_files_default_suffix_and_output_folder(tmp_path, capsys):
    a, b = photo(tmp_path / "a.png"), photo(tmp_path / "b.tif", mode="L")
    code, _, err = run(capsys, "denoise", a, b, "--quiet")
    assert code == 0, err
    assert (tmp_path / "a_denoised.png").is_file() and (tmp_path / "b_denoised.tif").is_file()
    code, _, err = run(capsys, "denoise", a, b, "-o", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.tif"]


def test_an_output_ending_in_a_slash_is_a_new_folder_even_for_one_input(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")  # was: "new: unknown output extension ''"
    code, out, err = run(capsys, "denoise", src, "-o", f"{tmp_path / 'new'}/", "--quiet")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["photo.png"]


def test_an_output_without_extension_for_one_input_says_how_to_name_a_folder(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")  # was: "new: unknown output extension ''", and no word of "new/"
    line = assert_bad_option(capsys, "denoise", src, "-o", tmp_path / "new", "--quiet")
    assert all(p in line for p in (f"-o {tmp_path / 'new'}: no extension", f"{tmp_path / 'new'}{os.sep}", ".png"))
    assert not (tmp_path / "new").exists()


def test_inputs_of_a_format_that_is_not_written_get_png_outputs(tmp_path, capsys):
    """Pillow reads PPM (and TGA, JFIF ...), which denoise does not write: the output keeps the
    name with .png, beside the input and in an -o folder alike (a folder kept the .ppm name and
    each file was refused, so that such files could not be denoised in one call at all)."""
    a, b = photo(tmp_path / "scan.ppm"), photo(tmp_path / "b.png")
    code, out, err = run(capsys, "denoise", a, "--tile", "64", "--quiet")
    assert code == 0, err
    assert f"-> {tmp_path / 'scan_denoised.png'}" in out
    code, _, err = run(capsys, "denoise", a, b, "-o", tmp_path / "out", "--tile", "64", "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.png", "scan.png"]
    with Image.open(tmp_path / "out" / "scan.png") as im:
        assert (im.format, im.size) == ("PNG", (64, 48))


def test_progress_bar_shows_tiles(tmp_path, capsys):
    code, _, err = run(capsys, "denoise", photo(tmp_path / "p.png"), "--tile", "32", "--overlap", "0")
    assert code == 0 and "tile" in err, err


def test_missing_file(tmp_path, capsys):
    assert_one_line_error(*run(capsys, "denoise", tmp_path / "nope.png", "--quiet")[::2], "file not found")


def test_not_an_image(tmp_path, capsys):
    fake = tmp_path / "notes.png"
    fake.write_text("hello")
    assert_one_line_error(*run(capsys, "denoise", fake, "--quiet")[::2], "not an image")
    assert fake.read_text() == "hello"


@pytest.mark.parametrize("name, mode, hint", [("cmyk.jpg", "CMYK", "'CMYK'"), ("pal.png", "P", "convert to RGB"),
                                              ("bw.png", "1", "'1'")])
def test_unsupported_modes(tmp_path, capsys, name, mode, hint):
    src = photo(tmp_path / name, mode=mode)
    before = src.read_bytes()
    assert_one_line_error(*run(capsys, "denoise", src, "--quiet")[::2], "unsupported image mode", hint)
    assert src.read_bytes() == before and not list(tmp_path.glob("*_denoised*"))


def test_16_bit_colour_png_is_refused_rather_than_truncated(tmp_path, capsys):
    src = png_16bit_rgb(tmp_path / "deep.png")
    assert_one_line_error(*run(capsys, "denoise", src, "--quiet")[::2], "16-bit colour PNG", "TIFF")


def test_multi_page_files_are_refused(tmp_path, capsys):
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    assert_one_line_error(*run(capsys, "denoise", tmp_path / "pages.tif", "--quiet")[::2], "2 frames")


def test_a_phone_jpeg_with_appended_images_is_its_photo(tmp_path, capsys):
    """Pillow reads a JPEG with an MPF appendix (a phone's HDR gain map, a camera's preview) as
    MPO, n_frames 2: it is one photo, read and denoised as a viewer shows it, not refused as
    a multi-page file."""
    rng = np.random.default_rng(0)
    photo_, gain_map = (Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)) for _ in range(2))
    photo_.save(tmp_path / "phone.jpg", format="MPO", save_all=True, append_images=[gain_map])
    with Image.open(tmp_path / "phone.jpg") as im:
        assert (im.format, im.n_frames) == ("MPO", 2)
        first = np.asarray(im)
    assert np.array_equal(images.read_image(tmp_path / "phone.jpg")[0], first)
    code, out, err = run(capsys, "denoise", tmp_path / "phone.jpg", "--tile", "64", "--quiet")
    assert code == 0, err
    with Image.open(tmp_path / "phone_denoised.jpg") as im:
        assert (im.format, im.mode, im.size, getattr(im, "n_frames", 1)) == ("JPEG", "RGB", (56, 40), 1)


def test_size_over_the_limit(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 2_000_000)
    src = tmp_path / "big.png"
    Image.new("L", (2000, 1001)).save(src)
    assert_one_line_error(*run(capsys, "denoise", src, "--quiet")[::2],  # was: 'over the limit of 2', no unit
                          f"{src}: the image has 2.0 megapixels (2000x1001), over the limit of 2 megapixels")


def test_output_equal_to_input_needs_overwrite(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")
    before = src.read_bytes()
    assert_one_line_error(*run(capsys, "denoise", src, "-o", src, "--quiet")[::2], "is the input", "--overwrite")
    assert src.read_bytes() == before
    code, _, err = run(capsys, "denoise", src, "-o", src, "--overwrite", "--quiet")
    assert code == 0, err
    assert src.read_bytes() != before and [p.name for p in tmp_path.iterdir()] == ["photo.png"]


def test_existing_output_needs_overwrite(tmp_path, capsys):
    src, dst = photo(tmp_path / "a.png"), photo(tmp_path / "b.png", mode="L")
    before = dst.read_bytes()
    assert_one_line_error(*run(capsys, "denoise", src, "-o", dst, "--quiet")[::2], "exists")
    assert dst.read_bytes() == before


def test_unwritable_output_folder(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")
    before = src.read_bytes()
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(*run(capsys, "denoise", src, "-o", blocker / "out.png", "--quiet")[::2],
                          "cannot write", "not a folder")
    assert src.read_bytes() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
def test_read_only_output_folder(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert_one_line_error(*run(capsys, "denoise", src, "-o", locked / "out.png", "--quiet")[::2],
                              "cannot write", "Permission denied")
    finally:
        locked.chmod(0o700)


def test_an_output_format_that_cannot_hold_the_image(tmp_path, capsys):
    src = photo(tmp_path / "photo.png", mode="RGBA")
    assert_one_line_error(*run(capsys, "denoise", src, "-o", tmp_path / "x.jpg", "--quiet")[::2],
                          "JPEG cannot hold", "RGBA")


def test_bad_weights_and_options(tmp_path, capsys):
    src = photo(tmp_path / "photo.png")
    assert_one_line_error(*run(capsys, "denoise", src, "--weights", "nope", "--quiet")[::2], "no weights 'nope'")
    # a value out of range is a bad option as argparse's are: status 2, naming it as typed (was: status 1,
    # "tile and overlap must be multiples of 32 ...; got tile=100, overlap=32")
    assert "--tile 100: a tile's side is a multiple of 32" in assert_bad_option(capsys, "denoise", src, "--tile", "100")
    assert "--overlap 96: a multiple of 32 from 0 to half the tile (64 for tile 128)" in assert_bad_option(
        capsys, "denoise", src, "--tile", "128", "--overlap", "96")
    assert "--device tpu9: unknown device" in assert_bad_option(capsys, "denoise", src, "--device", "tpu9")
    assert not list(tmp_path.glob("*_denoised*"))


def test_one_bad_file_does_not_stop_the_others(tmp_path, capsys):
    good = photo(tmp_path / "good.png")
    code, _, err = run(capsys, "denoise", tmp_path / "missing.png", good, "--quiet")
    assert code == 1 and "missing.png" in err and (tmp_path / "good_denoised.png").is_file()


def test_python_dash_m_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "n2n_utils", "denoise", str(tmp_path / "nope.png")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == f"n2n: error: {tmp_path / 'nope.png'}: file not found"


def test_weights_commands(tmp_path, capsys):
    code, out, _ = run(capsys, "list-weights")
    assert code == 0 and DEFAULT_WEIGHTS in out and "val_psnr" in out
    # the noise each learned, so that one can choose (was: the two gaussian weights told apart by name only)
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines[DEFAULT_WEIGHTS].endswith("  noise=gaussian(sigma 25/255)")
    assert lines["resunet-natural32-gaussian-blind"].endswith("  noise=gaussian_blind(max_sigma 50/255)")
    assert_one_line_error(*run(capsys, "export-weights", tmp_path / "none.pt", "--profile", "x")[::2], "none.pt")
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"model": ResUNet().state_dict(), "config": TrainConfig().to_dict(), "epoch": 0,
                "history": [], "data": {"name": "natural32"}}, checkpoint)
    code, out, err = run(capsys, "export-weights", checkpoint, "--profile", "smoke", "--name", "mine",
                         "--weights-dir", tmp_path, "--trained-on", "cpu", "--notes", "a test")
    assert code == 0, err
    assert (tmp_path / f"mine{SUFFIX}").is_file() and "a test" in (tmp_path / "mine.md").read_text()
    # weights exported elsewhere are listed from their folder, and only there
    code, out, _ = run(capsys, "list-weights", "--weights-dir", tmp_path)
    assert code == 0 and "\nmine  profile=smoke" in out and DEFAULT_WEIGHTS not in out


def test_export_course_command(tmp_path, capsys):
    code, out, err = run(capsys, "export-course", tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / FOLDER).iterdir()) == ["__init__.py", "bestmodel.pth", "model.py"]
    assert isinstance(torch.load(tmp_path / FOLDER / "bestmodel.pth", weights_only=True), dict)
    assert_one_line_error(*run(capsys, "export-course", tmp_path)[::2], "--overwrite")


def test_train_command_trains_resumes_and_exports(tmp_path, capsys):
    from n2n_utils.__main__ import main
    from n2n_utils.weights import read_weights

    ckpt = tmp_path / "run.pt"
    args = ["train", "--checkpoint", str(ckpt), "--n-train", "32", "--n-val", "16", "--epochs", "1",
            "--batch-size", "16", "--augment", "dihedral", "inversion", "--precision", "auto"]
    assert main(args) == 0
    assert "validation PSNR" in capsys.readouterr().out
    first = torch.load(ckpt, weights_only=True)["history"]
    # same run, one more epoch: resumes from the checkpoint, then exports
    args[args.index("--epochs") + 1] = "2"
    assert main([*args, "--export", "tiny-test", "--profile", "test", "--weights-dir", str(tmp_path)]) == 0
    card = read_weights(tmp_path / "tiny-test.pt")["card"]
    assert card["epochs"] == 2 and card["profile"] == "test"
    # resumed, not retrained: epoch 1 is the first run's own record, wall time included
    assert torch.load(ckpt, weights_only=True)["history"][0] == first[0] and len(first) == 1
    assert (tmp_path / "tiny-test.md").exists()
    # a finished checkpoint exported again elsewhere: the card names the device that trained it,
    # not the one this call ran on (was: this call's device, with no epoch trained on it)
    elsewhere = tmp_path / "elsewhere.pt"
    torch.save({**torch.load(ckpt, weights_only=True), "device": "cuda (some GPU)"}, elsewhere)
    assert main([*args, "--checkpoint", str(elsewhere), "--export", "again", "--profile", "test",
                 "--weights-dir", str(tmp_path)]) == 0
    assert read_weights(tmp_path / "again.pt")["card"]["device"] == "cuda (some GPU)"
    assert "--augment mixup: unknown augmentation" in assert_bad_option(capsys, "train", "--checkpoint", ckpt,
                                                                         "--augment", "mixup")
    # without --augment: every augmentation that keeps the gaussian law (and on 64x64 crops)
    fresh = tmp_path / "fresh.pt"
    assert main(["train", "--checkpoint", str(fresh), "--n-train", "16", "--n-val", "8", "--epochs", "1",
                 "--crop", "64"]) == 0
    assert set(torch.load(fresh, weights_only=True)["config"]["augment"]) == {"dihedral", "channel_permutation",
                                                                              "inversion"}
    assert torch.load(fresh, weights_only=True)["config"]["loss"] == "mse"
    assert torch.load(fresh, weights_only=True)["data"]["crop"] == 64
    # named as the option (was: "crop=48: ...", status 1)
    assert assert_bad_option(capsys, "train", "--checkpoint", tmp_path / "bad.pt", "--crop", "48").endswith(
        "error: --crop 48: a crop's side must be 32, 64, 96 or 128 pixels")
    # ... and the loss suited to the noise: the median's for impulse noise
    impulse = tmp_path / "impulse.pt"
    assert main(["train", "--checkpoint", str(impulse), "--noise", "impulse", "--n-train", "16", "--n-val", "8",
                 "--epochs", "1"]) == 0
    assert torch.load(impulse, weights_only=True)["config"]["loss"] == "l1"


def test_ctrl_c_is_one_line_saying_how_to_resume_and_the_rerun_says_it_resumes(tmp_path, capsys, monkeypatch):
    """A Ctrl-C mid-training was a 20-line traceback ending in KeyboardInterrupt, and the rerun
    that resumed said nothing of it: now one line naming the checkpoint and status 130, and
    the rerun names the epoch it resumes after."""
    from n2n_utils import training

    data = course_folder(tmp_path / "course", n_train=8, n_val=4)
    args = ["train", "--checkpoint", str(tmp_path / "run.pt"), "--dataset", str(data), "--epochs", "1",
            "--batch-size", "8"]
    real = training.train

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", ctrl_c)
    assert main(args) == 130
    _, err = capsys.readouterr()
    assert err.strip().splitlines() == [f"n2n: interrupted before the first epoch ended: nothing written to "
                                        f"{tmp_path / 'run.pt'}"]
    monkeypatch.setattr(training, "train", real)
    assert main(args) == 0 and "resuming" not in capsys.readouterr().out
    monkeypatch.setattr(training, "train", ctrl_c)
    args[args.index("--epochs") + 1] = "2"
    assert main(args) == 130
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'run.pt'}: resuming after epoch 1 of 2" in out
    assert err.strip().splitlines() == [f"n2n: interrupted; {tmp_path / 'run.pt'} holds the last finished "
                                        f"epoch: the same command resumes from it"]
    monkeypatch.setattr(training, "train", real)
    assert main(args) == 0 and "resuming after epoch 1 of 2" in capsys.readouterr().out
    assert main(args) == 0 and "holds all 2 epochs; nothing left to train" in capsys.readouterr().out


def test_a_checkpoint_of_other_data_is_refused_without_first_saying_it_resumes(tmp_path, capsys):
    """The same --checkpoint on other data (another folder, or its files changed) was said to
    resume ('run.pt: holds all 1 epochs; nothing left to train'), then refused; now only refused."""
    args = ["train", "--checkpoint", str(tmp_path / "run.pt"), "--epochs", "1", "--batch-size", "8"]
    assert main([*args, "--dataset", str(course_folder(tmp_path / "a", n_train=8))]) == 0
    before = (tmp_path / "run.pt").read_bytes()
    capsys.readouterr()
    for epochs in ("1", "2"):
        code, out, err = run(capsys, *args[:-4], "--epochs", epochs, "--batch-size", "8",
                             "--dataset", course_folder(tmp_path / "b", n_train=10))
        assert_one_line_error(code, err, f"{tmp_path / 'run.pt'}: cannot resume, it was trained on other data")
        assert out == ""
    assert (tmp_path / "run.pt").read_bytes() == before


def test_a_noise_asked_of_the_course_files_is_refused_not_ignored(tmp_path, capsys, monkeypatch):
    """--noise poisson with the course's files trained on their own noise without a word (and the
    card said course noise); now refused, as --noise-param is, before the files (300 MB for the
    course's) are read. Without --noise: their noise."""
    from n2n_utils.data import course

    data = course_folder(tmp_path / "course", n_train=8, n_val=4)
    args = ["train", "--dataset", str(data), "--epochs", "1", "--batch-size", "8"]
    with monkeypatch.context() as patch:
        patch.setattr(course, "read_bytes", lambda path: pytest.fail(f"{path} was read before --noise was refused"))
        assert_one_line_error(main([*args, "--checkpoint", str(tmp_path / "a.pt"), "--noise", "poisson"]),
                              capsys.readouterr().err, "--noise poisson", "carries its own noise", "leave --noise out")
    assert not (tmp_path / "a.pt").exists()
    assert main([*args, "--checkpoint", str(tmp_path / "b.pt")]) == 0
    assert torch.load(tmp_path / "b.pt", weights_only=True)["data"]["name"] == "course"


def test_the_readmes_python_for_using_weights_runs_as_written(tmp_path, monkeypatch):
    """The README's snippet that loads weights (or a checkpoint) and denoises, run literally
    beside a photo.png (its other snippet, a 10,000-pair training run, is the notebooks' code)."""
    import re
    import warnings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "load_weights" in block)
    photo(tmp_path / "photo.png", size=(45, 30))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's about a read-only numpy array
        exec(compile(snippet, "README.md", "exec"), scope)
    assert scope["denoised"].shape == (30, 45, 3) and scope["denoised"].dtype == np.uint8
    out = scope["predict"](scope["model"], scope["batch"])
    assert out.shape == (1, 3, 30, 45) and out.dtype == torch.float32 and 0 <= out.min() <= out.max() <= 1


def test_version(capsys):
    import n2n_utils

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])  # was: "the following arguments are required: COMMAND"
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"n2n {n2n_utils.__version__} (n2n-study)"


def test_every_argument_of_every_command_has_help():
    """`n2n COMMAND --help` says what each argument is (was: export-course's OUT_DIR, --overwrite,
    train's --target, --lr-schedule, --precision, --device ... bare)."""
    import argparse

    from n2n_utils.__main__ import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [f"{name} {action.option_strings or action.dest}" for name, parser in commands.choices.items()
            for action in parser._actions if not action.help]
    assert not bare


def test_ctrl_c_while_denoising_is_one_line(tmp_path, capsys, monkeypatch):
    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("n2n_utils.__main__.denoise_file", ctrl_c)
    code, _, err = run(capsys, "denoise", photo(tmp_path / "a.png"), "--quiet")
    assert code == 130 and err.strip().splitlines() == [
        "n2n: interrupted; the files listed as written are whole, the one in progress was not written"]


def test_train_at_a_noise_level_of_ones_own(tmp_path, capsys):
    """--noise-param sets the training noise's level, sigmas in grey levels as denoise's --sigma
    (was: only each model's default level, gaussian at 25/255, could be trained from the CLI)."""
    from n2n_utils.weights import read_weights

    base = ["train", "--n-train", "16", "--n-val", "8", "--epochs", "1", "--batch-size", "16"]
    assert main([*base, "--checkpoint", str(tmp_path / "s15.pt"), "--noise-param", "sigma=15",
                 "--export", "s15", "--profile", "test", "--weights-dir", str(tmp_path / "w")]) == 0
    noisy_15 = float(capsys.readouterr().out.split("noisy input ")[1].split(" dB")[0])
    card = read_weights(tmp_path / "w" / "s15.pt")["card"]
    assert card["noise"] == "gaussian" and card["noise_params"] == {"sigma": pytest.approx(15 / 255)}
    assert main([*base, "--checkpoint", str(tmp_path / "s25.pt")]) == 0
    noisy_25 = float(capsys.readouterr().out.split("noisy input ")[1].split(" dB")[0])
    assert noisy_15 > noisy_25 + 3  # less noise: 20 log10(25/15) = 4.4 dB, less clipping's share
    assert main([*base, "--checkpoint", str(tmp_path / "p.pt"), "--noise", "poisson", "--noise-param", "lam=10"]) == 0
    assert torch.load(tmp_path / "p.pt", weights_only=True)["data"]["noise_params"] == {"lam": 10.0}
    capsys.readouterr()
    # a name the noise does not have, and course files, whose noise is their own: one line each
    assert assert_bad_option(capsys, *base, "--checkpoint", tmp_path / "x.pt", "--noise-param", "lam=10").endswith(
        "--noise-param lam: noise 'gaussian' has no parameter lam; its parameter is sigma")
    course = course_folder(tmp_path / "course")
    assert main([*base, "--checkpoint", str(tmp_path / "c.pt"), "--dataset", str(course),
                 "--noise-param", "sigma=15"]) == 1
    assert_one_line_error(1, capsys.readouterr().err, "course data carry their own, unknown noise: no level to set")
    for bad in ("sigma=300", "sigma=nan", "sigma", "lam=ten"):
        with pytest.raises(SystemExit) as stop:
            main([*base, "--checkpoint", str(tmp_path / "x.pt"), "--noise-param", bad])
        assert stop.value.code == 2 and "--noise-param" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "c.pt").exists()


def test_train_from_shipped_or_own_weights(tmp_path, capsys, monkeypatch):
    from n2n_utils import data
    from n2n_utils.__main__ import main
    from n2n_utils.files import save_torch
    from n2n_utils.models import get_model
    from n2n_utils.runs import TrainConfig

    ckpt = tmp_path / "tuned-checkpoint.pt"
    base = ["train", "--n-train", "16", "--n-val", "8", "--epochs", "1", "--batch-size", "16"]
    # weights exported over the run's own checkpoint would end it: refused before any training
    assert main([*base, "--checkpoint", str(tmp_path / "tuned.pt"), "--export", "tuned",
                 "--weights-dir", str(tmp_path)]) == 1
    assert "would write its weights over this checkpoint" in capsys.readouterr().err
    # options of the export without --export: refused, not silently ignored (was: trained, exported nothing)
    assert "--overwrite and --weights-dir without --export NAME" in assert_bad_option(
        capsys, *base, "--checkpoint", ckpt, "--overwrite", "--weights-dir", tmp_path)
    assert not ckpt.exists()
    assert main([*base, "--checkpoint", str(ckpt), "--init", "resunet-natural32-gaussian25",
                 "--export", "tuned", "--profile", "test", "--weights-dir", str(tmp_path)]) == 0
    assert torch.load(ckpt, weights_only=True)["config"]["init"] == "resunet-natural32-gaussian25"
    assert "| init | resunet-natural32-gaussian25 |" in (tmp_path / "tuned.md").read_text()  # on the card
    # a run that went on from weights resumes from its checkpoint alone (was: "no weights" once they had gone)
    again = [*base, "--checkpoint", str(tmp_path / "again.pt"), "--init", str(tmp_path / "tuned.pt")]
    assert main(again) == 0
    (tmp_path / "tuned.pt").unlink()
    assert main([*again, "--epochs", "2"]) == 0, capsys.readouterr().err
    assert torch.load(tmp_path / "again.pt", weights_only=True)["epoch"] == 2
    capsys.readouterr()
    # weights that are not there fail at once, in one line, before any data are made
    assert main([*base, "--checkpoint", str(tmp_path / "other.pt"), "--init", str(tmp_path / "none.pt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("n2n: error: no weights") and "none.pt" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "other.pt").exists()
    # ... and so do the weights of another network (a linear last layer: the same tensors)
    linear = tmp_path / "linear.pt"
    save_torch({"state_dict": get_model("resunet", final_activation="linear").state_dict(),
                "config": TrainConfig(final_activation="linear").to_dict(), "card": {}}, linear)
    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("data made before --init was checked"))
    assert main([*base, "--checkpoint", str(tmp_path / "other.pt"), "--init", str(linear)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"n2n: error: {linear}: cannot start from these weights") and len(err.splitlines()) == 1


def test_a_folder_given_as_input_says_how_to_denoise_its_images(tmp_path, capsys):
    # was: "is a folder, not an image file", and no word of how to denoise a folder's images
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(folder / "a.png")
    code, _, err = run(capsys, "denoise", folder, "--quiet")
    assert_one_line_error(code, err, f"{folder}: is a folder", f"give its images ({folder / '*.png'}, say)", "-o")


def test_weights_exported_elsewhere_are_named_by_their_file(tmp_path, capsys):
    # was: after `train --export mine --weights-dir DIR`, `denoise --weights mine` said only
    # "neither a file nor a shipped name"
    src = photo(tmp_path / "a.png")
    code, _, err = run(capsys, "denoise", src, "--weights", "mine", "--quiet")
    assert_one_line_error(code, err, "no weights 'mine'", "--weights-dir", "DIR/NAME.pt")


def test_train_help_lists_the_noise_models_and_the_defaults(capsys):
    # was: --noise, --n-train, --n-val, --epochs, --lr and --batch-size without a word of help
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("gaussian, gaussian_blind, impulse, poisson, text", "training pairs (default 50000)",
                   "validation crops (default 1000)", f"(default {TrainConfig().epochs})",
                   f"(default {TrainConfig().lr:g})", f"(default {TrainConfig().batch_size})"):
        assert phrase in text, phrase
