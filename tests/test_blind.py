"""Blind gaussian denoising: the noise-level estimate, the choice of weights, `n2n denoise
--sigma`, and the PSNR-against-sigma sweep."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from n2n_utils import blind, findings
from n2n_utils.__main__ import main
from n2n_utils.inference import GREY_PLAIN, denoise_array
from n2n_utils.noise import gaussian
from n2n_utils.weights import DEFAULT_WEIGHTS, load_weights, read_weights


@pytest.fixture(scope="module")
def chelsea():
    return blind.held_out_photos(scale=0.25, n_photos=1)["chelsea"]


def noisy(image: np.ndarray, sigma_255: float, seed: int = 0) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    return gaussian(x, torch.Generator().manual_seed(seed), sigma=sigma_255 / 255)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("sigma_255", [10, 25, 40])
def test_estimate_sigma_on_a_held_out_photo(chelsea, sigma_255):
    assert abs(blind.estimate_sigma(noisy(chelsea, sigma_255)) * 255 - sigma_255) < 2.5


def test_estimate_sigma_sees_the_noise_that_clipping_hid():
    """The flower is bright and dark in large areas, where strong noise is clipped: the plain wavelet
    estimate (scikit-image's) reads it far too low; leaving those places out corrects most of it."""
    from skimage.restoration import estimate_sigma as plain

    flower = noisy(blind.held_out_photos(scale=0.25)["flower"], 50)
    ours = blind.estimate_sigma(flower) * 255
    theirs = plain(flower / 255.0, channel_axis=-1, average_sigmas=True) * 255
    assert abs(ours - 50) < 6 and abs(theirs - 50) > abs(ours - 50) + 4


def test_estimate_sigma_grey_uint16_and_alpha(chelsea):
    rgba = np.concatenate([noisy(chelsea, 20), np.full(chelsea.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert blind.estimate_sigma(rgba) == pytest.approx(blind.estimate_sigma(rgba[..., :3]))
    grey = noisy(chelsea, 20)[..., 0]
    assert blind.estimate_sigma(grey.astype(np.uint16) * 257) == pytest.approx(blind.estimate_sigma(grey), rel=1e-6)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        blind.estimate_sigma(chelsea.astype(np.float32))


def test_weights_for_sigma():
    assert blind.weights_for_sigma(25 / 255) == DEFAULT_WEIGHTS
    assert blind.weights_for_sigma(23 / 255) == DEFAULT_WEIGHTS
    assert blind.weights_for_sigma(10 / 255) == blind.BLIND_WEIGHTS
    assert blind.weights_for_sigma(40 / 255) == blind.BLIND_WEIGHTS
    with pytest.raises(ValueError, match="0-1 units"):
        blind.weights_for_sigma(25)


def test_blind_weights_are_shipped_with_their_noise():
    card = read_weights(blind.BLIND_WEIGHTS)["card"]
    assert card["noise"] == "gaussian_blind"
    assert card["noise_params"]["max_sigma"] * 255 == pytest.approx(blind.BLIND_MAX_SIGMA_255)


def test_denoise_sigma_auto_prints_the_estimate_and_picks_weights(tmp_path, capsys, chelsea):
    quiet, loud = tmp_path / "quiet.png", tmp_path / "loud.png"
    Image.fromarray(noisy(chelsea, 8)).save(quiet)
    Image.fromarray(noisy(chelsea, 25)).save(loud)
    code = main(["denoise", str(quiet), str(loud), "--sigma", "auto", "--quiet", "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    lines = {line.split(":")[0]: line for line in out.splitlines() if "noise sigma" in line}
    assert "estimated at" in lines[str(quiet)] and blind.BLIND_WEIGHTS in lines[str(quiet)]
    assert DEFAULT_WEIGHTS in lines[str(loud)]
    assert (tmp_path / "out" / "quiet.png").exists() and (tmp_path / "out" / "loud.png").exists()


def test_denoise_sigma_number_and_explicit_weights(tmp_path, capsys, chelsea):
    src = tmp_path / "photo.png"
    Image.fromarray(noisy(chelsea, 25)).save(src)
    assert main(["denoise", str(src), "--sigma", "40", "--quiet", "-o", str(tmp_path / "a.png")]) == 0
    assert "noise sigma 40.0/255; weights " + blind.BLIND_WEIGHTS in capsys.readouterr().out
    assert main(["denoise", str(src), "--sigma", "40", "--weights", DEFAULT_WEIGHTS, "--quiet",
                 "-o", str(tmp_path / "b.png")]) == 0
    assert "weights " + DEFAULT_WEIGHTS in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["denoise", str(src), "--sigma", "loud"])
    assert exit_info.value.code == 2 and "or auto" in capsys.readouterr().err


def test_sigma_sweep_rows_and_summary(chelsea):
    tiny = {"chelsea": chelsea[:40, :48]}
    table = blind.sigma_sweep(tiny, sigmas_255=(10, 25))
    assert len(table) == 2 * len(blind.METHODS)
    summary = blind.sweep_summary(table)
    assert list(summary.columns) == list(blind.METHODS) and list(summary.index) == [10, 25]
    assert (summary.drop(columns=blind.NOISY).to_numpy() > summary[[blind.NOISY]].to_numpy()).all()
    assert summary.loc[10, blind.NOISY] > summary.loc[25, blind.NOISY]
    targets = blind.sweep_targets(summary)
    gap = summary.loc[25, blind.BLIND] - summary.loc[25, blind.SIGMA25]
    assert targets["gap_to_sigma25_at_25"] == pytest.approx(gap)
    assert targets["worst_sigma_255"] in (10, 25)
    ensemble_gaps = summary[blind.BLIND_ENSEMBLE] - summary[blind.BM3D_TRUE]  # both levels are in 10-50
    assert targets["worst_gap_to_bm3d_ensemble"] == pytest.approx(ensemble_gaps.min())
    assert targets["bm3d_met_ensemble"] == (ensemble_gaps.min() >= -blind.TARGET_GAP_DB)
    assert not summary[blind.BLIND_ENSEMBLE].equals(summary[blind.BLIND])  # 16 passes, not one
    assert "sigma 25/255" in findings.sigma_sweep_finding(summary)


def test_a_grey_image_sent_to_the_blind_weights_is_denoised(tmp_path, capsys, chelsea):
    # was: `--sigma 40` (or auto, away from 25) on a grey photo picked the blind weights, which
    # returned it almost as noisy as it came (then a warning said so); a grey image now goes in
    # shifted by 2 px per channel (inference.grey_shifts), and those weights denoise it
    from n2n_utils.metrics import psnr

    grey_clean = chelsea.mean(axis=2).round().astype(np.uint8)
    rng = np.random.default_rng(0)
    grey = np.clip(grey_clean + rng.normal(0, 40, grey_clean.shape), 0, 255).round().astype(np.uint8)
    src, colour = tmp_path / "grey.png", tmp_path / "colour.png"
    Image.fromarray(grey).save(src)
    Image.fromarray(noisy(chelsea, 40)).save(colour)
    out = tmp_path / "out"
    assert main(["denoise", str(src), str(colour), "--sigma", "40", "--quiet", "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""  # no warning any more
    score = lambda path: psnr(torch.from_numpy(np.array(Image.open(path)))[None].float() / 255,
                              torch.from_numpy(grey_clean)[None].float() / 255)
    assert score(out / "grey.png") - score(src) > 5.0  # plain (x, x, x) gained under 0.5 dB here
    # the default weights without --sigma: the level is estimated (40/255: shifted by 1 px) and beats plain
    assert main(["denoise", str(src), "--quiet", "-o", str(tmp_path / "w25.png")]) == 0
    plain = denoise_array(load_weights(device="cpu"), grey, grey=GREY_PLAIN)
    plain_psnr = psnr(torch.from_numpy(plain)[None].float() / 255, torch.from_numpy(grey_clean)[None].float() / 255)
    assert score(tmp_path / "w25.png") - plain_psnr > 1.0


def test_estimate_sigma_holds_a_few_bytes_a_pixel_not_a_float64_copy_of_the_image():
    """A large photo's estimate (--sigma auto, a grey photo's feed) held every channel in float64
    and more, about 40 bytes a pixel: 4 GB at the 100-megapixel limit. One channel at a time in
    float32 holds about 12. Counted by tracemalloc, which sees numpy's buffers: no timing."""
    import tracemalloc

    rng = np.random.default_rng(0)
    image = np.clip(128 + rng.normal(0, 20, (500, 600, 3)), 0, 255).astype(np.uint8)
    tracemalloc.start()
    try:
        sigma = blind.estimate_sigma(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sigma * 255 == pytest.approx(20, abs=0.5)
    assert peak / (500 * 600) < 16, f"{peak / (500 * 600):.1f} bytes a pixel"
