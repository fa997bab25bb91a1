"""Blind gaussian denoising: weights for any noise level from 0 to 50/255, the noise level
estimated from the image, and the choice of weights that follows from it.

The blind weights (BLIND_WEIGHTS) were trained with Noise2Noise on pairs whose sigma is drawn
per pair, uniformly from 0 to 50/255 (noise.gaussian_blind), last on 64x64 crops (their model
card has every run); the default weights saw sigma = 25/255 only. `sigma_sweep` scores both,
and BM3D given the true or the estimated sigma, on the held-out photos at each level of
SWEEP_SIGMAS.

Sigmas are in 0-1 units (a uint8 level is 1/255) unless a name says `_255`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pywt
import torch
from skimage.transform import rescale

from .augment import ensemble_for
from .classical import denoise as classical_denoise
from .data import PHOTOS, SPLITS
from .inference import predict
from .metrics import psnr, to_float
from .noise import gaussian
from .weights import DEFAULT_WEIGHTS, load_weights

BLIND_WEIGHTS = "resunet-natural32-gaussian-blind"
BLIND_MAX_SIGMA_255 = 50  # the blind weights saw sigma from 0 to this (1/255); noise.gaussian_blind's default
SPECIALISED_SIGMA = 25 / 255  # the one level DEFAULT_WEIGHTS were trained at
# Within this of SPECIALISED_SIGMA the specialised weights are picked, else the blind ones:
# about the error of estimate_sigma at that level (24-25.7 read for 25/255 on the held-out photos).
SPECIALISED_BAND = 2.5 / 255
SWEEP_SIGMAS_255 = (5, 10, 15, 25, 35, 50)  # the levels of the PSNR-against-sigma figure, in 1/255

# Method labels of the sweep's table (its schema: notebooks, report and tests import these).
NOISY = "noisy input"
BLIND = "blind weights (sigma 0-50)"
BLIND_ENSEMBLE = "blind weights, test-time ensemble"  # the mean over rotations, mirrors and inversion
SIGMA25 = "sigma-25 weights"
BM3D_TRUE = "BM3D, true sigma"
BM3D_ESTIMATED = "BM3D, estimated sigma"
METHODS = (NOISY, BLIND, BLIND_ENSEMBLE, SIGMA25, BM3D_TRUE, BM3D_ESTIMATED)


CLIP_MARGIN = 2.0  # estimate_sigma ignores places whose local mean is within this many sigmas of 0 or 1
# Below this side (pixels) estimate_sigma reads next to nothing: 0 for a single row or column whatever
# its noise; on pure noise of sigma 25/255 it reads 13 +- 4 at 3x3 and 23 +- 5 at 8x8 (20 draws).
ESTIMATE_MIN_SIDE = 8


def _mad_sigma(channel: np.ndarray, low: float, high: float) -> float:
    """Donoho's estimate on one channel (float 0-1): the median absolute finest diagonal wavelet
    detail / 0.6745, over the places whose local mean (the approximation band) is in (low, high)."""
    bands = pywt.dwtn(channel, "db2")
    detail, mean = bands["dd"], bands["aa"] / 2  # db2's 2-D approximation is twice the local mean
    inside = (mean > low) & (mean < high)
    values = detail[inside] if inside.sum() >= 100 else detail  # too few: all of them
    return float(np.median(np.abs(values)) / 0.6745)


def estimate_sigma(image: np.ndarray) -> float:
    """The standard deviation of additive white gaussian noise in `image`, in 0-1 units.

    `image`: uint8 (0-255) or uint16 (0-65535), H x W or H x W x C; an alpha channel (C = 2
    or 4) is ignored. Donoho's wavelet estimate, averaged over the colour channels (what
    scikit-image's estimate_sigma computes), made aware of clipping: where the local mean lies
    within CLIP_MARGIN sigmas of black or white, clipping has removed part of the noise, so
    those places are left out, with sigma refined twice. On natural32's three held-out photos at
    1/4 and 1/2 scale, sigma 0 to 50/255, its error is 1.2/255 on average and 4.1 at worst,
    against 2.2 and 11.3 for scikit-image's (which reads 39 for 50/255 on the flower). It still
    reads fine texture as noise: about 1-2/255 on clean photos. An image with a side under
    ESTIMATE_MIN_SIDE pixels gives no estimate worth the name (a single row reads 0).
    """
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"estimate_sigma takes uint8 or uint16 images, got {image.dtype}")
    scale = np.float32(255.0 if image.dtype == np.uint8 else 65535.0)
    x = image[..., None] if image.ndim == 2 else image
    # one channel at a time, in float32: a large photo's estimate holds about 12 bytes a pixel,
    # not 40 (all channels in float64 held 930 MB for a 24-megapixel photo, 4 GB at MAX_PIXELS)
    channel = lambda c: np.divide(x[..., c], scale, dtype=np.float32)  # one array, 0-1
    within = lambda low, high: float(np.mean([_mad_sigma(channel(c), low, high)
                                              for c in range(3 if x.shape[2] >= 3 else 1)]))
    sigma = within(-np.inf, np.inf)
    for _ in range(2):
        margin = CLIP_MARGIN * sigma
        sigma = within(margin, 1 - margin)
    return sigma


SIGMA_WEIGHTS = (DEFAULT_WEIGHTS, BLIND_WEIGHTS)  # the weights weights_for_sigma picks from


def weights_for_sigma(sigma: float) -> str:
    """The shipped weights for gaussian noise of standard deviation `sigma` (0-1 units): the
    specialised DEFAULT_WEIGHTS within SPECIALISED_BAND of their level, the blind ones elsewhere."""
    if not 0 <= sigma < 1:
        raise ValueError(f"sigma is in 0-1 units (25/255 = 0.098), got {sigma}")
    return DEFAULT_WEIGHTS if abs(sigma - SPECIALISED_SIGMA) <= SPECIALISED_BAND else BLIND_WEIGHTS


# --------------------------------------------------------------------------- the sweep


def held_out_photos(scale: float = 0.25, n_photos: int | None = None) -> dict[str, np.ndarray]:
    """natural32's held-out photos (SPLITS["val"]; the first view of the stereo pair), downscaled
    by `scale` (0-1, antialiased, as the training crops are), as uint8 H x W x 3."""
    photos = {}
    for name in SPLITS["val"][:n_photos]:
        image = PHOTOS[name]()[0]
        small = rescale(image, scale, anti_aliasing=True, channel_axis=-1, preserve_range=True)
        photos[name] = np.round(small).clip(0, 255).astype(np.uint8)
    return photos


def _timed(fn, *args, **kwargs) -> tuple:
    """fn's result and the seconds it took."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def sigma_sweep(photos: dict[str, np.ndarray], sigmas_255=SWEEP_SIGMAS_255, seed: int = 0,
                device: str = "cpu") -> pd.DataFrame:
    """PSNR (dB) of every method in METHODS on each photo (uint8 H x W x 3) at each noise level.

    One row per photo, sigma and method: photo, sigma_255, method, psnr, seconds (to denoise),
    sigma_estimate_255 (what estimate_sigma read from the noisy photo). The networks run in
    fp32, whole image at once, the blind ones also with the test-time ensemble (`n2n denoise
    --ensemble`: 16 passes); BM3D gets the true sigma, or the estimate.
    """
    blind, sigma25 = load_weights(BLIND_WEIGHTS, device), load_weights(DEFAULT_WEIGHTS, device)
    networks = {BLIND: (blind, ()), BLIND_ENSEMBLE: (blind, ensemble_for("gaussian")), SIGMA25: (sigma25, ())}
    rows = []
    for p, (name, photo) in enumerate(photos.items()):
        clean = torch.from_numpy(photo).permute(2, 0, 1)[None].contiguous()  # (1, 3, H, W) uint8
        for s, sigma_255 in enumerate(sigmas_255):
            noisy = gaussian(clean, torch.Generator().manual_seed(seed * 1_000 + p * 10 + s), sigma=sigma_255 / 255)
            estimate = estimate_sigma(noisy[0].permute(1, 2, 0).numpy())
            outputs = {NOISY: (to_float(noisy), 0.0)}
            for label, (model, ensemble) in networks.items():
                outputs[label] = _timed(predict, model, noisy, ensemble=ensemble)
            outputs[BM3D_TRUE] = _timed(classical_denoise, "bm3d", noisy, sigma=sigma_255 / 255)
            outputs[BM3D_ESTIMATED] = _timed(classical_denoise, "bm3d", noisy, sigma=estimate)
            for method, (denoised, seconds) in outputs.items():
                rows.append({"photo": name, "sigma_255": sigma_255, "method": method,
                             "psnr": psnr(denoised, to_float(clean)), "seconds": seconds,
                             "sigma_estimate_255": estimate * 255})
    return pd.DataFrame(rows)


def sweep_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR over photos: one row per sigma (1/255), one column per method (METHODS order)."""
    summary = table.pivot_table(index="sigma_255", columns="method", values="psnr", aggfunc="mean")
    return summary[[m for m in METHODS if m in summary.columns]]


TARGET_GAP_DB = 0.3  # the blind weights' allowed shortfall, against each reference below
TARGET_BM3D_SIGMAS_255 = (10, 50)  # the range of levels where BM3D (true sigma) is the reference


def sweep_targets(summary: pd.DataFrame) -> dict:
    """The blind weights against their targets (dB; positive: blind wins): at sigma 25 against
    the sigma-25 weights (both plain), and at every sigma in TARGET_BM3D_SIGMAS_255 against BM3D
    given the true sigma (the worst level), plain and, in the `_ensemble` keys, with the
    test-time ensemble (only where `summary` has that column: sweeps from before it have not).
    Each with `met`: shortfall no more than TARGET_GAP_DB."""
    gap_25 = float(summary.loc[25, BLIND] - summary.loc[25, SIGMA25]) if 25 in summary.index else float("nan")
    lo, hi = TARGET_BM3D_SIGMAS_255
    band = summary.loc[(summary.index >= lo) & (summary.index <= hi)]
    targets = {"gap_to_sigma25_at_25": gap_25, "sigma25_met": bool(gap_25 >= -TARGET_GAP_DB)}
    for method, suffix in ((BLIND, ""), (BLIND_ENSEMBLE, "_ensemble")):
        if method not in summary.columns:  # a sweep from before the ensemble was added
            continue
        gaps = band[method] - band[BM3D_TRUE]
        targets |= {f"worst_gap_to_bm3d{suffix}": float(gaps.min()) if len(gaps) else float("nan"),
                    f"worst_sigma_255{suffix}": int(gaps.idxmin()) if len(gaps) else None,
                    f"bm3d_met{suffix}": bool(len(gaps) and gaps.min() >= -TARGET_GAP_DB)}
    return targets

