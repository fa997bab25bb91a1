"""Image-quality metrics. Images are float tensors (N, C, H, W) in 0-`max_range`."""

from __future__ import annotations

import math

import numpy as np
import torch

EPS = 1e-10  # keeps a perfect reconstruction finite (the course's grader adds 1e-8 likewise)


def _check_range(denoised: torch.Tensor, clean: torch.Tensor, max_range: float) -> None:
    """Refuse what would give a PSNR off by a constant, silently: images of other shapes, uint8
    images (0-255) scored as 0-1, and clean images beyond `max_range` (0-255 floats with the
    default max_range of 1: 48 dB too low)."""
    if denoised.shape != clean.shape:
        raise ValueError(f"shapes differ: {tuple(denoised.shape)} vs {tuple(clean.shape)}")
    if torch.uint8 in (denoised.dtype, clean.dtype):
        raise ValueError("PSNR takes float images; convert uint8 (0-255) with metrics.to_float (0-1) first")
    low, high = (float(clean.min()), float(clean.max())) if clean.numel() else (0.0, 0.0)
    if low < 0 or high > max_range:
        raise ValueError(f"clean images range {low:g} to {high:g}, outside 0-{max_range:g}: give 0-1 images "
                         f"(metrics.to_float), or max_range=255 for 0-255 ones")


def psnr_per_image(denoised: torch.Tensor, clean: torch.Tensor, max_range: float = 1.0) -> torch.Tensor:
    """PSNR of each image in dB, shape (N,): 10 log10(max_range^2 / MSE), as scikit-image's
    peak_signal_noise_ratio with data_range=max_range (EPS keeps a perfect one finite)."""
    _check_range(denoised, clean, max_range)
    mse = (denoised.double() - clean.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(max_range**2 / (mse + EPS))


def psnr(denoised: torch.Tensor, clean: torch.Tensor, max_range: float = 1.0) -> float:
    """Mean over images of each image's PSNR: the EE-559 grader's number."""
    return float(psnr_per_image(denoised, clean, max_range).mean())


def psnr_dataset(denoised: torch.Tensor, clean: torch.Tensor, max_range: float = 1.0) -> float:
    """PSNR of the whole set's mean squared error: lower than `psnr` when quality varies
    across images, since the worst images dominate a pooled MSE."""
    _check_range(denoised, clean, max_range)
    mse = float((denoised.double() - clean.double()).pow(2).mean())
    return 10 * math.log10(max_range**2 / (mse + EPS))


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (n - 1 degrees of freedom).
    One value gives no interval: half-width NaN (shown as "n/a"), not 0, which would read as
    certainty; no values: both NaN. Over the validation crops of natural32, which come from a few
    held-out photos, it is an interval for more crops of those photos, not for new photos (the
    photo-to-photo spread is what notebook 06's leave-photos-out cross-validation measures)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return (float(x[0]) if len(x) else math.nan), math.nan
    return float(x.mean()), _t_half_width(x.var(ddof=1) / len(x), len(x) - 1, confidence)


def _t_half_width(variance_of_mean: float, dof: float, confidence: float) -> float:
    """Half-width of a Student-t interval for a mean of that variance and `dof` degrees of freedom
    (0 for a mean of no spread, where the degrees of freedom may be undefined)."""
    from scipy import stats

    if variance_of_mean == 0:
        return 0.0
    return float(stats.t.ppf((1 + confidence) / 2, dof) * math.sqrt(variance_of_mean))


def paired_gap(a, b, confidence: float = 0.95) -> tuple[float, float]:
    """Mean paired difference a - b (dB) of two methods scored on the same validation crops, and
    the half-width of its Student-t confidence interval.

    `a` and `b` are per-crop PSNRs (dB), each of shape (n_crops,) for one network or a method
    without seeds (classical, the noisy input), or (n_seeds, n_crops): column i is crop i in
    both, and row s of one is paired with row s of the other (the same training seed); a method
    of shape (n_crops,) is paired with every seed of the other. Pairing takes out what the two
    share, how hard each crop is, which two separate CIs count twice: on correlated scores the
    paired interval is far tighter.

    What the interval covers, with d[s, i] the difference on crop i for seed s:
    - crops (another draw of crops from the same held-out photos, with new noise): the spread
      of the per-crop differences averaged over seeds, var_i(mean_s d) / n_crops;
    - training seeds (another run), where there are two or more: the spread of each seed's mean
      difference over the crops, var_s(mean_i d) / n_seeds.
    The two variances add, with Welch-Satterthwaite degrees of freedom. Each part also holds a
    share of the seed-by-crop interaction, so the sum counts it twice: in expectation a little
    wide, not narrow. A t-interval over the per-seed means alone would leave the crops out
    (every seed is scored on the same ones) and have 2 degrees of freedom with the full
    profile's 3 seeds. With one seed it is
    mean_ci of the per-crop differences: the spread between training runs is left out, as it is
    from every one-seed row's CI. Neither covers new photos: the crops come from a few photos.
    Fewer than two crops: half-width NaN (shown as "n/a"), never 0."""
    a, b = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if a.shape[1] != b.shape[1] or (len(a) != len(b) and 1 not in (len(a), len(b))):
        raise ValueError(f"cannot pair scores of shapes {a.shape} and {b.shape} (seeds, crops): the crops, and the "
                         f"seeds of two networks, must match")
    d = a - b
    n_seeds, n_crops = d.shape
    if n_crops < 2:
        return float(d.mean()) if d.size else math.nan, math.nan
    if n_seeds < 2:
        return mean_ci(d[0], confidence)
    by_crop, by_seed = d.mean(axis=0), d.mean(axis=1)
    crop_part, seed_part = by_crop.var(ddof=1) / n_crops, by_seed.var(ddof=1) / n_seeds
    total = crop_part + seed_part
    dof = total**2 / (crop_part**2 / (n_crops - 1) + seed_part**2 / (n_seeds - 1)) if total else math.nan
    return float(d.mean()), _t_half_width(total, dof, confidence)


def ssim(denoised: torch.Tensor, clean: torch.Tensor) -> float:
    """Mean over images of scikit-image's SSIM; both float (N, 3, H, W) in 0-1."""
    from skimage.metrics import structural_similarity

    pairs = zip(denoised.double().permute(0, 2, 3, 1).numpy(),
                clean.double().permute(0, 2, 3, 1).numpy(), strict=True)
    return float(np.mean([structural_similarity(c, d, channel_axis=-1, data_range=1.0) for d, c in pairs]))


def score(denoised: torch.Tensor, clean: torch.Tensor) -> dict:
    """How every method is scored on a validation set, float (N, 3, H, W) in 0-1: psnr (dB,
    mean of per-image PSNR, the course's metric), psnr_ci95 (half-width of its 95% CI over the
    images: for natural32's crops, an interval for more crops of the same held-out photos, not
    for new photos) and ssim. Per photo: psnr_by_group; two methods on the same images:
    paired_gap."""
    mean, half = mean_ci(psnr_per_image(denoised, clean).numpy())
    return {"psnr": mean, "psnr_ci95": half, "ssim": ssim(denoised, clean)}


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 0-255 -> float 0-1; float passes through."""
    return images.float() / 255.0 if images.dtype == torch.uint8 else images


def psnr_by_group(denoised: torch.Tensor, clean: torch.Tensor, groups: list[str] | None,
                  max_range: float = 1.0):
    """Mean per-image PSNR for each group (e.g. source photo) and for all images, as a
    DataFrame with columns group, psnr, ci95, n."""
    import pandas as pd

    scores = psnr_per_image(denoised, clean, max_range).numpy()
    labels = np.asarray(groups if groups is not None else ["all"] * len(scores))
    rows = []
    for group in [*sorted(set(labels)), "all"]:
        values = scores if group == "all" else scores[labels == group]
        mean, half = mean_ci(values)
        rows.append({"group": group, "psnr": mean, "ci95": half, "n": len(values)})
    return pd.DataFrame(rows).drop_duplicates("group", keep="last").reset_index(drop=True)
