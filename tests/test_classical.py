import dataclasses
import inspect
import math
import os
import signal
import time

import numpy as np
import pytest
import torch
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

from n2n_utils import classical
from n2n_utils.classical import denoise, get_method, noise_sigma, run_baseline, suitable, tune
from n2n_utils.metrics import psnr, to_float
from n2n_utils.noise import get_noise

SIGMA = 25 / 255
REASONABLE = {"bm3d": {"sigma": SIGMA}, "nlm": {"h": 0.5 * SIGMA, "sigma": SIGMA},
              "tv": {"weight": 0.08}, "median": {"size": 3}}


@pytest.mark.parametrize("method", sorted(REASONABLE))
def test_each_method_raises_psnr_on_gaussian_noise(small_data, method):
    n = 4 if method == "bm3d" else 16  # BM3D takes about 0.2 s a crop
    noisy, clean = small_data.val_input[:n], to_float(small_data.val_clean[:n])
    denoised = denoise(method, noisy, **REASONABLE[method])
    assert denoised.dtype == torch.float32 and denoised.shape == noisy.shape
    assert 0.0 <= float(denoised.min()) and float(denoised.max()) <= 1.0
    gain = psnr(denoised, clean) - psnr(to_float(noisy), clean)
    assert gain > (2.0 if method == "median" else 4.0), f"{method} gains only {gain:.2f} dB"


def test_tv_and_nlm_wrappers_equal_scikit_image(small_data):
    noisy = small_data.val_input[:1]
    image = noisy[0].permute(1, 2, 0).numpy() / 255.0  # (H, W, 3), float64 0-1
    ours = denoise("tv", noisy, weight=0.1)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, np.clip(denoise_tv_chambolle(image, weight=0.1, channel_axis=-1), 0, 1),
                               atol=1e-5)
    ours = denoise("nlm", noisy, h=0.05, sigma=SIGMA)[0].permute(1, 2, 0).numpy()
    theirs = denoise_nl_means(image, h=0.05, sigma=SIGMA, patch_size=5, patch_distance=5, fast_mode=True,
                              channel_axis=-1)
    np.testing.assert_allclose(ours, np.clip(theirs, 0, 1), atol=1e-5)


def test_median_equals_numpy_sliding_median(small_data):
    noisy = small_data.val_input[:2]
    images = noisy.double().numpy() / 255.0  # (N, 3, H, W)
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="symmetric")  # scipy's "reflect"
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(2, 3))
    np.testing.assert_allclose(denoise("median", noisy, size=5).numpy(), np.median(windows, axis=(-2, -1)),
                               atol=1e-6)


def test_bm3d_coarse_psd_grid_matches_package_default(small_data, monkeypatch):
    noisy, clean = small_data.val_input[:3], to_float(small_data.val_clean[:3])
    fast = psnr(denoise("bm3d", noisy, sigma=SIGMA), clean)
    monkeypatch.setattr(classical, "BM3D_NF", 32)  # the bm3d package's own setting
    assert fast == pytest.approx(psnr(denoise("bm3d", noisy, sigma=SIGMA), clean), abs=0.05)


def test_tune_picks_the_best_grid_point(small_data):
    noisy, clean = small_data.train_input[:16], small_data.train_clean[:16]
    best, table = tune("tv", noisy, clean, grid={"weight": [0.02, 0.08, 0.3]})
    assert len(table) == 3 and list(table.columns) == ["weight", "psnr", "seconds"]
    assert best == {"weight": table.loc[table["psnr"].idxmax(), "weight"]}
    assert table["psnr"].iloc[1] == pytest.approx(psnr(denoise("tv", noisy, weight=0.08), to_float(clean)))
    # the default grid of a sigma-driven method is centred on the given sigma
    _, table = tune("nlm", noisy, clean, sigma=SIGMA)
    assert (table["sigma"] == SIGMA).all() and len(table) == 4


def test_tuning_sees_training_images_only(small_data):
    assert list(inspect.signature(tune).parameters) == ["method", "train_noisy", "train_clean", "grid", "sigma"]
    data = dataclasses.replace(small_data, val_input=small_data.val_input[:8], val_clean=small_data.val_clean[:8])
    blind = dataclasses.replace(data, val_clean=torch.zeros_like(data.val_clean))  # spoilt ground truth
    honest, spoilt = run_baseline("tv", data, n_tune=32), run_baseline("tv", blind, n_tune=32)
    assert honest["params"] == spoilt["params"]
    assert [r["psnr"] for r in honest["tuning"]] == [r["psnr"] for r in spoilt["tuning"]]
    assert honest["psnr"] > spoilt["psnr"]


def test_median_beats_tv_on_impulse_noise(small_data):
    impulse = get_noise("impulse", p=0.25)
    train_clean, val_clean = small_data.train_clean[:32], small_data.val_clean[:32]
    generator = torch.Generator().manual_seed(0)
    train_noisy, val_noisy = impulse(train_clean, generator), impulse(val_clean, generator)
    scores = {}
    for method in ("median", "tv"):
        best, _ = tune(method, train_noisy, train_clean)
        scores[method] = psnr(denoise(method, val_noisy, **best), to_float(val_clean))
    assert scores["median"] > scores["tv"] + 2.0, scores  # about 25 against 20 dB


def test_run_baseline_reports_scores(small_data):
    data = dataclasses.replace(small_data, val_input=small_data.val_input[:8], val_clean=small_data.val_clean[:8])
    row = run_baseline("nlm", data, n_tune=16)
    assert row["method"] == "nlm" and row["noise"] == "gaussian" and row["n_val"] == 8
    assert row["psnr"] == pytest.approx(np.mean(row["per_image_psnr"]))
    assert row["psnr_ci95"] > 0 and 0 < row["ssim"] < 1 and row["seconds"] > 0
    assert row["params"]["sigma"] == pytest.approx(SIGMA)


def test_suitability_and_sigma():
    assert suitable("bm3d", "gaussian") and suitable("bm3d", "poisson")
    assert not suitable("bm3d", "impulse") and not suitable("bm3d", "text")
    assert suitable("median", "impulse") and suitable("median", "text") and not suitable("median", "gaussian")
    assert all(suitable(m, n) for m in ("tv", "nlm") for n in ("gaussian", "poisson", "impulse", "text"))
    assert noise_sigma("gaussian", sigma=0.1) == 0.1
    assert noise_sigma("poisson", lam=30.0) == pytest.approx(math.sqrt(0.5 / 30))
    assert noise_sigma("impulse") is None


def test_errors_list_the_choices(small_data):
    with pytest.raises(ValueError, match=r"unknown classical method 'wiener'; choose one of bm3d, median, nlm, tv$"):
        get_method("wiener")
    with pytest.raises(ValueError, match="choose one of"):
        denoise("wiener", small_data.val_input[:1])
    with pytest.raises(ValueError, match=r"^tv has no parameter size; its parameter is weight$"):
        denoise("tv", small_data.val_input[:1], size=3)
    with pytest.raises(ValueError, match=r"^tv has no parameters a, size; its parameter is weight$"):
        denoise("tv", small_data.val_input[:1], size=3, a=1)
    with pytest.raises(ValueError, match="unknown noise"):
        suitable("tv", "speckle")
    with pytest.raises(ValueError, match="uint8"):
        denoise("tv", to_float(small_data.val_input[:1]), weight=0.1)
    with pytest.raises(ValueError, match="needs the noise's standard deviation"):
        tune("bm3d", small_data.train_input[:1], small_data.train_clean[:1])
    with pytest.raises(ValueError, match=r"does not suit gaussian noise .* choose \['bm3d', 'nlm', 'tv'\]"):
        run_baseline("median", small_data)
    course_like = dataclasses.replace(small_data, train_clean=None)
    with pytest.raises(ValueError, match="no clean training images"):
        run_baseline("tv", course_like)


def test_a_pool_of_two_workers_gives_the_serial_result_bit_for_bit(small_data):
    noisy = small_data.val_input[:5]  # 5 images: chunks of 3 and 2
    for method in sorted(REASONABLE):
        serial = denoise(method, noisy, workers=1, **REASONABLE[method])
        assert torch.equal(denoise(method, noisy, workers=2, **REASONABLE[method]), serial), method
    assert denoise("tv", noisy[:0], workers=2, weight=0.1).shape == (0, 3, 32, 32)
    with pytest.raises(ValueError, match="workers=0: give a whole number of processes >= 1"):
        denoise("tv", noisy, workers=0, weight=0.1)
    # Ctrl-C, or a notebook kernel's shutdown, signals the whole process group: the workers leave
    # it to this process, and the pool stays whole (no KeyboardInterrupt tracebacks from them)
    for pid in classical._pool(2)._processes:
        os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert torch.equal(denoise("tv", noisy, workers=2, weight=0.1), denoise("tv", noisy, workers=1, weight=0.1))


def test_the_pool_is_used_by_default_only_where_one_core_would_take_long(monkeypatch):
    monkeypatch.setattr(classical, "usable_cores", lambda: 16)
    crop_s = get_method("bm3d").crop_s
    few = int(classical.POOL_MIN_S / crop_s)  # one core takes POOL_MIN_S on these
    assert classical.default_workers("bm3d", few) == 1
    assert classical.default_workers("bm3d", few + 1) == 16
    assert classical.default_workers("tv", 1_000) == 1  # milliseconds a crop


@pytest.mark.parametrize("side", [7, 8])
def test_bm3d_refuses_an_image_smaller_than_9_pixels_a_side(side):
    # was: under 8 pixels the bm3d package raised "Image cannot be smaller than block size!", and
    # at exactly 8x8 it crashed the process (a segfault: the explorer's kernel with it)
    with pytest.raises(ValueError, match=f"BM3D needs at least 9x9 pixels; this image is {side}x{side}"):
        classical.bm3d(np.zeros((side, side, 3)), 0.1)
    assert classical.bm3d(np.full((9, 12, 3), 0.5), 0.1).shape == (9, 12, 3)


def test_bm3d_denoises_a_grey_image_given_as_three_equal_channels():
    # was: NaN out (the explorer showed a black BM3D panel for a grey upload with noise "none"):
    # the bm3d package's colour transform divides by the range of each opponent channel, 0 for grey
    from skimage import data

    clean = data.camera()[200:264, 200:264] / 255.0
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape), 0, 1)
    out = classical.bm3d(np.repeat(noisy[..., None], 3, axis=-1), 25 / 255)
    assert out.shape == (64, 64, 3) and np.isfinite(out).all()
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    mse = lambda x: float(np.mean((x - clean) ** 2))
    assert 10 * np.log10(mse(noisy) / mse(out[..., 0])) > 3  # dB gained


@pytest.mark.parametrize("colour", [(0.8, 0.2, 0.4), "red equals blue"])
def test_bm3d_gives_no_nan_for_an_image_without_range_in_an_opponent_channel(colour):
    # was NaN out, as for grey (test above), for any image one of whose opponent channels is flat:
    # a flat colour (the explorer's zoom on a clipped red sky in an upload without noise) or red
    # equal to blue; each channel goes through the grey BM3D instead
    g = np.random.default_rng(0).random((16, 16))
    image = np.stack([g, np.full_like(g, 0.5), g], axis=-1) if colour == "red equals blue" else \
        np.broadcast_to(np.array(colour), (16, 16, 3)).copy()
    out = classical.bm3d(image, 0.1)
    assert out.shape == image.shape and np.isfinite(out).all()
    assert np.abs(out - image).max() < 0.2
