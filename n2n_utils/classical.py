"""Classical denoisers, the baselines Noise2Noise is compared with (issue 4).

Each method takes noisy uint8 images (N, 3, H, W), values 0-255, and returns float 0-1 images
(N, 3, H, W), clipped, like `inference.predict`, so `metrics.psnr` applies directly. Their
parameters are tuned by grid search on *training* crops against their clean versions; the
validation images are only denoised once, with the chosen parameters.

    best, table = tune("nlm", data.train_input[:200], data.train_clean[:200], sigma=25 / 255)
    denoised = denoise("nlm", data.val_input, **best)
    row = run_baseline("bm3d", data)  # tune, then score the validation set

Times per 32x32 crop on one core of a busy 2-core machine: BM3D 0.2-0.3 s, NLM 1.5-3 ms,
TV 2-4 ms, median 0.5-2.5 ms. So tuning BM3D's three sigmas on 200 crops takes about two
minutes on one core, the others seconds.

`denoise` spreads the images over the CPU cores with a process pool (`workers`): each worker
denoises a contiguous chunk one image after another with the same one-image function, so the
result is bit-identical to the serial path (`workers=1`). By default the pool is used only
where one core would take over POOL_MIN_S seconds (BM3D on more than about 25 crops; the
others on thousands), since starting it costs seconds; the timing benchmarks pass workers=1.
"""

from __future__ import annotations

import inspect
import itertools
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import median_filter
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

from .config import usable_cores
from .data import DenoisingData
from .metrics import psnr, psnr_per_image, score, to_float
from .noise import noise_params, unknown_parameters_words

# BM3D estimates its noise statistics on an FFT grid of BM3D_NF pixels a side (the package's
# default is 32). For white noise the spectrum is flat, so a coarser grid loses nothing: on 16
# natural32 crops at sigma = 25/255, nf=16 scored 28.865 dB against 28.868 dB at nf=32, in a
# quarter of the time (0.21 s against 0.90 s a crop). Set it to 32 for the reference setting.
BM3D_NF = 16
# Where `denoise` starts a process pool by default: when one core would take longer than this.
# Starting one costs a few seconds once per Python process (each worker imports torch,
# scikit-image and bm3d: 2-4 s measured on the busy 2-core development machine), so smaller
# batches (the smoke profile's, the tuning of a quick run) stay in this process.
POOL_MIN_S = 5.0
# The bm3d package refuses an image under 8 pixels a side and crashes the process (a segfault,
# which takes a Jupyter kernel with it) on one of exactly 8x8: `bm3d` refuses both first.
BM3D_MIN_SIDE = 9

# --------------------------------------------------------------------------- one image
# Each takes one image (H, W, 3), float 0-1, and returns it denoised (H, W, 3), float.


def bm3d(image: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (Dabov et al. 2007; `bm3d` package, 'np' profile, opponent colour space).
    `sigma`: the assumed standard deviation of additive white gaussian noise, 0-1 units.
    One thread: the package's own threads cost more than they save on a 32x32 crop.
    An image under BM3D_MIN_SIDE pixels a side is a ValueError."""
    if min(image.shape[:2]) < BM3D_MIN_SIDE:
        raise ValueError(f"BM3D needs at least {BM3D_MIN_SIDE}x{BM3D_MIN_SIDE} pixels; this image is "
                         f"{image.shape[1]}x{image.shape[0]}")
    import bm3d as bm3d_package  # an optional dependency, and a second to import

    profile = bm3d_package.BM3DProfile()
    profile.num_threads = 1  # also makes the result deterministic
    profile.nf = BM3D_NF
    with np.errstate(divide="ignore", invalid="ignore"):  # the division by 0 that is checked for here
        _, high, low, _, _ = bm3d_package.rgb_to(image, "opp")
    if np.any(high == low):
        # bm3d_rgb scales each opponent channel by its range: 0 for both colour ones of a grey image
        # (three equal channels), for all three of a flat colour, and NaN out; each channel alone
        # instead (a grey image's once)
        out: list[np.ndarray] = []
        for c in range(3):
            same = next((out[k] for k in range(c) if np.array_equal(image[..., k], image[..., c])), None)
            out.append(np.asarray(bm3d_package.bm3d(image[..., c], sigma, profile)).reshape(image.shape[:2])
                       if same is None else same)
        return np.stack(out, axis=-1)
    return bm3d_package.bm3d_rgb(image, sigma, profile)


def nlm(image: np.ndarray, h: float, sigma: float = 0.0, patch_size: int = 5,
        patch_distance: int = 5) -> np.ndarray:
    """Non-local means (scikit-image, fast mode). `h`: the patch-distance cut-off, 0-1 units;
    `sigma`: the noise's standard deviation (0-1), subtracted from patch distances, or 0 when
    unknown. 5x5 patches searched within 11x11 windows suit 32x32 crops."""
    return denoise_nl_means(image, h=h, sigma=sigma, patch_size=patch_size,
                            patch_distance=patch_distance, fast_mode=True, channel_axis=-1)


def tv(image: np.ndarray, weight: float) -> np.ndarray:
    """Total-variation denoising (Chambolle's algorithm, scikit-image). Larger `weight`
    smooths more; about 0.08 suits sigma = 25/255."""
    return denoise_tv_chambolle(image, weight=weight, channel_axis=-1)


def median(image: np.ndarray, size: int) -> np.ndarray:
    """Median of each channel over a `size` x `size` window (scipy, reflected at the edges)."""
    return median_filter(image, size=(size, size, 1))


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Method:
    """A classical denoiser, its default parameter grid and the noise models it suits."""

    denoise_one: Callable[..., np.ndarray]
    grid: Callable[[float | None], dict[str, list]]  # noise sigma (0-1) or None -> {param: values}
    noises: tuple[str, ...]
    crop_s: float  # rough seconds per 32x32 crop on one core (the module docstring's times)


def _bm3d_grid(sigma: float | None) -> dict[str, list]:
    if sigma is None:
        raise ValueError("bm3d needs the noise's standard deviation (sigma, 0-1 units) to build "
                         "its grid; it suits only gaussian and poisson noise")
    return {"sigma": [m * sigma for m in (0.8, 1.0, 1.2)]}


def _nlm_grid(sigma: float | None) -> dict[str, list]:
    # Measured on natural32 training crops: with sigma known the best h is about half of it;
    # without (impulse, text), h must be far larger to average the outliers away.
    if sigma is None:
        return {"h": [0.1, 0.15, 0.2, 0.3], "sigma": [0.0]}
    return {"h": [m * sigma for m in (0.4, 0.5, 0.6, 0.8)], "sigma": [sigma]}


# Why these pairings: BM3D shrinks transform coefficients against a gaussian noise level, so
# it needs noise that is close to additive gaussian. Poisson noise at lam=30 is, with a
# variance x/lam that changes with the intensity x; its value at mid-grey stands in for all
# (an Anscombe transform would be the exact route, not taken here). Impulse and text noise
# replace pixels with values that have nothing to do with the image: no sigma describes them,
# and the median, which ignores a minority of outliers, is the classical answer. TV and NLM
# are generic smoothness and self-similarity priors, so they are offered for every noise.
METHODS: dict[str, Method] = {
    "bm3d": Method(bm3d, _bm3d_grid, ("gaussian", "poisson"), crop_s=0.2),
    "nlm": Method(nlm, _nlm_grid, ("gaussian", "poisson", "impulse", "text"), crop_s=0.002),
    "tv": Method(tv, lambda sigma: {"weight": [0.04, 0.06, 0.08, 0.12, 0.2, 0.3]},
                 ("gaussian", "poisson", "impulse", "text"), crop_s=0.003),
    "median": Method(median, lambda sigma: {"size": [3, 5]}, ("impulse", "text"), crop_s=0.002),
}


def get_method(name: str) -> Method:
    """The registered method called `name`; unknown names are errors listing the choices."""
    if name not in METHODS:
        raise ValueError(f"unknown classical method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    return METHODS[name]


def suitable(method: str, noise: str) -> bool:
    """Whether `method` is a fair baseline for the noise model `noise` (see METHODS)."""
    noise_params(noise)  # refuses unknown noise names
    return noise in get_method(method).noises


def suited_noises() -> list[str]:
    """The noise models at least one classical method suits (METHODS), sorted: those notebook 05
    can give a headline on (gaussian_blind, for one, is not among them)."""
    return sorted({noise for method in METHODS.values() for noise in method.noises})


def noise_sigma(noise: str, **params: float) -> float | None:
    """The noise's standard deviation in 0-1 units, where one number describes it: gaussian's
    sigma, and poisson's at mid-grey, sqrt(0.5 / lam). None for impulse and text noise."""
    full = noise_params(noise, **params)
    if noise == "gaussian":
        return float(full["sigma"])
    if noise == "poisson":
        return math.sqrt(0.5 / full["lam"])
    return None


# --------------------------------------------------------------------------- batches


def _check_params(method: str, names: Iterable[str]) -> None:
    """Refuse parameter names that the method's one-image function does not take."""
    known = list(inspect.signature(get_method(method).denoise_one).parameters)[1:]  # not the image
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(unknown_parameters_words(method, unknown, known))


def default_workers(method: str, n_images: int, pixels: int = 32 * 32) -> int:
    """The processes `denoise` spreads `n_images` images of `pixels` pixels each over when not
    told: every core this process may use (config.usable_cores) where one core would take over
    POOL_MIN_S seconds at the method's rough speed (Method.crop_s), else 1 (this process)."""
    serial_s = n_images * pixels / 1024 * get_method(method).crop_s
    return usable_cores() if serial_s > POOL_MIN_S else 1


def denoise(method: str, noisy: torch.Tensor, workers: int | None = None, **params) -> torch.Tensor:
    """Denoise uint8 images (N, 3, H, W), 0-255; returns float32 0-1 images (N, 3, H, W),
    clipped. `params` are the method's own (e.g. weight=0.08 for "tv").

    workers: processes to spread the images over (at most one per image): 1 denoises them one
        after another in this process; None picks `default_workers`. The result is the same,
        bit for bit, whatever the number (one image is never split)."""
    _check_params(method, params)
    if noisy.dtype != torch.uint8 or noisy.ndim != 4 or noisy.shape[1] != 3:
        raise ValueError(f"denoise takes uint8 images (N, 3, H, W), got {noisy.dtype} {tuple(noisy.shape)}")
    if workers is None:
        workers = default_workers(method, len(noisy), noisy.shape[2] * noisy.shape[3])
    if type(workers) is not int or workers < 1:
        raise ValueError(f"workers={workers!r}: give a whole number of processes >= 1 (1: no pool)")
    images = to_float(noisy).double().permute(0, 2, 3, 1).numpy()  # (N, H, W, 3), 0-1
    chunks = min(workers, len(images))
    if chunks <= 1:
        out = _denoise_chunk(method, images, params) if len(images) else images
    else:  # contiguous chunks, in order: the same images through the same function as above
        parts = np.array_split(images, chunks)
        try:
            out = np.concatenate(list(_pool(workers).map(_denoise_chunk, [method] * chunks, parts,
                                                         [params] * chunks)))
        except BrokenProcessPool:
            _POOLS.pop(workers, None)
            raise RuntimeError(f"{method}: the pool of {workers} processes failed; a script that denoises "
                               "in a pool needs its top-level code under `if __name__ == \"__main__\":` "
                               "(multiprocessing re-imports it), or pass workers=1") from None
    return torch.from_numpy(out).permute(0, 3, 1, 2).clamp(0.0, 1.0).float().contiguous()


def _denoise_chunk(method: str, images: np.ndarray, params: dict) -> np.ndarray:
    """(n, H, W, 3) float64 0-1 -> the method's output, one image after another (what a pool
    worker runs; module-level so that it pickles)."""
    fn = get_method(method).denoise_one
    return np.stack([fn(image, **params) for image in images])


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes, started on first use and kept for the rest of the process
    (its start is what costs). Its workers come from a fork server that imported this module,
    not from forks of this process, whose torch threads may be mid-flight."""
    if workers not in _POOLS:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload([__name__])
        _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                                              initargs=(os.getpid(),))
    return _POOLS[workers]


def _worker_start(pid: int, every_s: float = 2.0) -> None:
    """A pool worker's start. It ignores Ctrl-C (SIGINT): an interrupt, or the SIGINT a notebook
    kernel's process group gets when papermill shuts the kernel down, is the parent's to handle;
    the workers would otherwise each print a KeyboardInterrupt traceback and break the pool.
    And a daemon thread ends the worker once process `pid` (the one that started the pool) has
    gone. A process that exits normally shuts its pool down itself; one that is killed (a
    kernel killed, say) would otherwise leave its idle workers behind."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def expand_grid(method: str, grid: dict[str, list]) -> list[dict]:
    """Every combination of a grid {param: [values]}, checking each name against the method."""
    _check_params(method, grid)
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def tune(method: str, train_noisy: torch.Tensor, train_clean: torch.Tensor,
         grid: dict[str, list] | None = None, sigma: float | None = None) -> tuple[dict, pd.DataFrame]:
    """Grid search on training crops (uint8, 0-255): the parameters with the best mean
    per-image PSNR, and a table with one row per grid point (its parameters, psnr in dB,
    seconds). `grid` defaults to the method's own, centred on the noise's `sigma` (0-1 units)
    where it needs one. Pass training images only: validation scores must stay unseen."""
    points = expand_grid(method, get_method(method).grid(sigma) if grid is None else grid)
    clean = to_float(train_clean)
    rows = []
    for params in points:
        start = time.perf_counter()
        denoised = denoise(method, train_noisy, **params)
        rows.append({**params, "psnr": psnr(denoised, clean), "seconds": time.perf_counter() - start})
    table = pd.DataFrame(rows)
    return points[int(table["psnr"].idxmax())], table  # the first of any ties


def run_baseline(method: str, data: DenoisingData, noise: str | None = None, n_tune: int = 200) -> dict:
    """Tune `method` on the first `n_tune` training crops (noisy input against clean), then
    denoise the validation set and score it. `noise` defaults to the data's own noise model,
    whose parameters come from data.meta. Returns method, noise, params, psnr (dB, mean of
    per-image PSNR), psnr_ci95 (half-width), ssim (metrics.score), seconds (to denoise the
    validation set), per_image_psnr (list), denoised (float 0-1, for per-photo scores), n_tune,
    n_val and the tuning table as records."""
    if data.train_clean is None:
        raise ValueError(f"{data!r} has no clean training images, which tuning needs (the course's "
                         "data has only noisy pairs): use natural32")
    data_noise = data.meta.get("noise")
    noise = data_noise if noise is None else noise
    if noise != data_noise:
        raise ValueError(f"noise {noise!r} differs from the data's own noise {data_noise!r}")
    if not suitable(method, noise):
        suited = sorted(m for m in METHODS if suitable(m, noise))
        raise ValueError(f"{method} does not suit {noise} noise (see suitable); for it choose {suited}")
    sigma = noise_sigma(noise, **data.meta.get("noise_params", {}))
    params, table = tune(method, data.train_input[:n_tune], data.train_clean[:n_tune], sigma=sigma)
    start = time.perf_counter()
    denoised = denoise(method, data.val_input, **params)
    seconds = time.perf_counter() - start
    clean = to_float(data.val_clean)
    return {"method": method, "noise": noise, "params": params, **score(denoised, clean), "seconds": seconds,
            "per_image_psnr": psnr_per_image(denoised, clean).tolist(), "denoised": denoised,
            "n_tune": min(n_tune, len(data.train_input)), "n_val": len(data.val_input),
            "tuning": table.to_dict("records")}
