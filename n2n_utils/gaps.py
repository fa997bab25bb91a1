"""The gaps between the methods that n2n_utils.comparisons scores, judged on the same crops:
each row of theirs carries its per-crop PSNRs (`<name>_per_crop.csv`), so that a gap is the
mean of per-crop differences (paired crop by crop, and seed by seed between two networks; a
classical method, run once, with each seed of a network), with a 95% CI (metrics.paired_gap)
far narrower than the unpaired one. Here: a method's per-crop scores as a table (crop_matrix),
one gap (paired) and the same on each photo (gap_by_photo); and, from the comparisons' tables,
the headline on one noise and its two gaps per noise (paired_gaps) and per photo (photo_gaps),
Noise2Clean minus Noise2Noise along the learning curve (curve_gaps) and each augmentation
against none (ablation_gaps). PSNR and gaps in dB.
"""

from __future__ import annotations

import math

import pandas as pd

from .comparisons import N2C, N2N, NO_AUGMENTATION, NOISY_INPUT
from .metrics import paired_gap
from .seeds import CROP, N_SEEDS, PHOTO, SEED

# The study's target for the gap (dB): Noise2Noise at most this far below Noise2Clean at equal budget
TARGET_GAP_TO_N2C_DB = 0.2
# headline's and paired_gaps' keys: the paired gaps (dB) and their 95% CI half-widths
N2C_MINUS_N2N, N2N_MINUS_CLASSICAL = "n2c_minus_n2n", "n2n_minus_classical"
PAIRED_KEYS = (N2C_MINUS_N2N, f"{N2C_MINUS_N2N}_ci95", N2N_MINUS_CLASSICAL, f"{N2N_MINUS_CLASSICAL}_ci95")
SETTING_MINUS_NONE = "setting_minus_none"  # ablation_gaps' key: each setting minus NO_AUGMENTATION (dB)
SAME_SIGN = "same_sign"  # photo_gaps' column: whether a gap has one sign on every held-out photo


def best_classical(table: pd.DataFrame, noise: str) -> str | None:
    """The label of the classical method with the highest mean PSNR on `noise`
    (comparisons.compare_methods' rows, or their mean over seeds); None where no classical method
    suits the noise (gaussian_blind: classical.METHODS)."""
    psnr = table[table["noise"] == noise].set_index("method")["psnr"]
    classical = psnr.drop(index=[NOISY_INPUT, N2N, N2C])
    return None if classical.empty else str(classical.idxmax())


def headline(table: pd.DataFrame, noise: str = "gaussian", per_crop: pd.DataFrame | None = None) -> dict:
    """PSNR (dB) on one noise of comparisons.compare_methods' rows: noisy, best_classical (its
    label) and best_classical_psnr, n2n and n2c; and, given their per-crop scores (`<name>_per_crop.csv`),
    the paired gaps N2C_MINUS_N2N and N2N_MINUS_CLASSICAL (dB) with the half-widths of their 95%
    CIs (`<key>_ci95`, NaN where none can be given) and N_SEEDS (see paired_gaps)."""
    psnr = table[table["noise"] == noise].set_index("method")["psnr"]
    best = best_classical(table, noise)
    if best is None:
        raise ValueError(f"{noise}: no classical method was compared on it, so it has no headline; "
                         f"choose a noise with one")
    out = {"noisy": float(psnr[NOISY_INPUT]), "best_classical": best, "best_classical_psnr": float(psnr[best]),
           "n2n": float(psnr[N2N]), "n2c": float(psnr[N2C])}
    if per_crop is not None:
        gaps = paired_gaps(table[table["noise"] == noise], per_crop).iloc[0]
        out |= {key: float(gaps[key]) for key in PAIRED_KEYS}
        out[N_SEEDS] = int(gaps[N_SEEDS])
    return out


def crop_matrix(per_crop: pd.DataFrame, **where) -> pd.DataFrame:
    """The per-crop PSNRs (dB) of the rows of `per_crop` that match `where` (column=value) as a
    table: a row per seed (index SEED, increasing; one row, index NA, for a method without seeds)
    and a column per crop (CROP, increasing)."""
    rows = _matching(per_crop, where)
    seeds = rows[SEED] if SEED in rows else pd.Series(pd.NA, index=rows.index)
    rows = rows.assign(**{SEED: seeds.astype("Int64").fillna(-1)})  # -1: no seed, while pivoting
    if rows.duplicated([SEED, CROP]).any():
        raise ValueError(f"per-crop scores for {where} hold a crop twice for one seed: give the rows of one method")
    return rows.pivot(index=SEED, columns=CROP, values="psnr").sort_index().sort_index(axis=1) \
        .rename(index={-1: pd.NA})


def _matching(per_crop: pd.DataFrame, where: dict) -> pd.DataFrame:
    """The rows of `per_crop` that match `where` (column=value); ValueError for none."""
    rows = per_crop
    for column, value in where.items():
        rows = rows[rows[column] == value]
    if rows.empty:
        raise ValueError(f"no per-crop scores for {where}")
    return rows


def _pairable(per_crop: pd.DataFrame, a: dict, b: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """crop_matrix of the rows matching `a` and of those matching `b`, which must share their
    crops, and two networks their seeds."""
    first, second = crop_matrix(per_crop, **a), crop_matrix(per_crop, **b)
    if not first.columns.equals(second.columns):
        raise ValueError(f"cannot pair {a} with {b}: they were scored on other crops")
    if first.index.notna().all() and second.index.notna().all() and not first.index.equals(second.index):
        raise ValueError(f"cannot pair {a} (seeds {first.index.tolist()}) with {b} (seeds {second.index.tolist()})")
    return first, second


def paired(per_crop: pd.DataFrame, a: dict, b: dict) -> tuple[float, float, int]:
    """metrics.paired_gap of the rows matching `a` minus those matching `b` (column=value each):
    the mean gap (dB), its 95% CI half-width, and the number of training seeds paired (1 where
    each side is one run or a method without seeds). They must share their crops, and two
    networks their seeds."""
    first, second = _pairable(per_crop, a, b)
    return (*paired_gap(first.to_numpy(float), second.to_numpy(float)), max(len(first), len(second)))


def gap_by_photo(per_crop: pd.DataFrame, a: dict, b: dict) -> pd.Series:
    """The gap of `a` minus `b` (as `paired` takes them) on each photo alone: the mean over that
    photo's crops, and over the seeds, of the per-crop difference (dB), indexed by photo (PHOTO)
    in the order of their first crops. ValueError for scores without their photos."""
    first, second = _pairable(per_crop, a, b)
    rows = _matching(per_crop, a)
    if PHOTO not in rows or rows[PHOTO].isna().any():
        raise ValueError(f"per-crop scores for {a} do not name their photos (written before they were kept)")
    photos = rows.drop_duplicates(CROP).set_index(CROP)[PHOTO].reindex(first.columns)
    by_crop = (first.to_numpy(float) - second.to_numpy(float)).mean(axis=0)  # a method without seeds: each seed's
    return pd.Series(by_crop, index=photos.to_numpy()).groupby(level=0, sort=False).mean().rename_axis(PHOTO)


def paired_gaps(table: pd.DataFrame, per_crop: pd.DataFrame) -> pd.DataFrame:
    """Per noise of comparisons.compare_methods' mean table, the two headline gaps, paired crop by
    crop (and seed by seed; a classical method is paired with each seed of the network): columns noise,
    N2C_MINUS_N2N (Noise2Clean minus Noise2Noise, dB), best_classical (label),
    N2N_MINUS_CLASSICAL (Noise2Noise minus it, dB), each gap with `<key>_ci95`, the half-width of
    its 95% CI (metrics.paired_gap: over crops, and seeds where there are several), and N_SEEDS,
    the training seeds paired (1: the CIs cover the crops alone). A noise that no classical method
    suits has no best_classical (NaN) and NaN for that gap."""
    rows = []
    for noise in dict.fromkeys(table["noise"]):
        best, pairs = _headline_pairs(table, noise)
        to_clean = paired(per_crop, *pairs[N2C_MINUS_N2N])
        to_classical = (math.nan, math.nan) if best is None else paired(per_crop, *pairs[N2N_MINUS_CLASSICAL])[:2]
        rows.append({"noise": noise, N2C_MINUS_N2N: to_clean[0], f"{N2C_MINUS_N2N}_ci95": to_clean[1],
                     "best_classical": best, N2N_MINUS_CLASSICAL: to_classical[0],
                     f"{N2N_MINUS_CLASSICAL}_ci95": to_classical[1], N_SEEDS: to_clean[2]})
    return pd.DataFrame(rows)


def _headline_pairs(table: pd.DataFrame, noise: str) -> tuple[str | None, dict[str, tuple[dict, dict]]]:
    """The best classical method on `noise` (best_classical) and paired_gaps' two gaps on it:
    N2C_MINUS_N2N and, where there is a classical method, N2N_MINUS_CLASSICAL, each as the rows
    (a, b) that `paired` takes."""
    best = best_classical(table, noise)
    n2n, n2c = {"noise": noise, "method": N2N}, {"noise": noise, "method": N2C}
    pairs = {N2C_MINUS_N2N: (n2c, n2n)}
    if best is not None:
        pairs[N2N_MINUS_CLASSICAL] = (n2n, {"noise": noise, "method": best})
    return best, pairs


def photo_gaps(table: pd.DataFrame, per_crop: pd.DataFrame) -> pd.DataFrame:
    """paired_gaps' two gaps on each held-out photo alone (gap_by_photo): a row per noise and gap,
    with columns noise, gap (N2C_MINUS_N2N or N2N_MINUS_CLASSICAL; a noise that no classical
    method suits has no row for it), best_classical (label), one column per photo (dB, in the
    order of their first crops) and SAME_SIGN, whether the gap is above 0 on every photo or below
    0 on every photo. With a few photos, a CI over them would have next to no degrees of freedom:
    this only says whether the photos agree."""
    rows = []
    for noise in dict.fromkeys(table["noise"]):
        best, pairs = _headline_pairs(table, noise)
        for key, (a, b) in pairs.items():
            gaps = gap_by_photo(per_crop, a, b)
            rows.append({"noise": noise, "gap": key, "best_classical": best, **gaps.to_dict(),
                         SAME_SIGN: bool((gaps > 0).all() or (gaps < 0).all())})
    return pd.DataFrame(rows)


def curve_gaps(per_crop: pd.DataFrame) -> pd.DataFrame:
    """Along comparisons.learning_curve's per-crop scores: per noise and n_train, N2C_MINUS_N2N
    (Noise2Clean minus Noise2Noise at equal steps, dB) and its 95% CI half-width `<key>_ci95`, paired, with
    N_SEEDS as paired_gaps gives it."""
    rows = []
    for (noise, n), _ in per_crop.groupby(["noise", "n_train"], sort=False):
        gap, half, n_seeds = paired(per_crop, {"noise": noise, "n_train": n, "target": "noise2clean"},
                           {"noise": noise, "n_train": n, "target": "noise2noise"})
        rows.append({"noise": noise, "n_train": n, N2C_MINUS_N2N: gap, f"{N2C_MINUS_N2N}_ci95": half,
                     N_SEEDS: n_seeds})
    return pd.DataFrame(rows)


def ablation_gaps(per_crop: pd.DataFrame) -> pd.DataFrame:
    """Along comparisons.augmentation_ablation's per-crop scores: per noise, each setting but
    NO_AUGMENTATION (in the order they were run) minus NO_AUGMENTATION, paired crop by crop and seed by seed:
    columns noise, augmentation, SETTING_MINUS_NONE (dB) and its 95% CI half-width `<key>_ci95`,
    and N_SEEDS, as paired_gaps gives them."""
    rows = []
    for (noise, setting), _ in per_crop.groupby(["noise", "augmentation"], sort=False):
        if setting == NO_AUGMENTATION:
            continue
        gap, half, n_seeds = paired(per_crop, {"noise": noise, "augmentation": setting},
                                    {"noise": noise, "augmentation": NO_AUGMENTATION})
        rows.append({"noise": noise, "augmentation": setting, SETTING_MINUS_NONE: gap,
                     f"{SETTING_MINUS_NONE}_ci95": half, N_SEEDS: n_seeds})
    return pd.DataFrame(rows)
