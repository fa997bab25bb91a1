"""Notebook 05's results as sections 7 and 11 read them, made once per rendering: one source
for each number.

- PSNRs (dB, means over seeds) come from comparisons.csv, augmentation_ablation.csv and
  learning_curve.csv.
- Every gap between two methods, and its 95% CI, is paired crop by crop from the per-crop
  scores (`<name>_per_crop.csv`: gaps.paired_gaps, curve_gaps, ablation_gaps); per-crop
  scores of another run than their table's are refused, not paired.
- The headline is gaps.headline of comparisons.csv and its per-crop scores. comparisons.json keeps notebook 05's
  copy of it, which a reader of that file and the notebook's closing sentence see; the report
  checks that copy against its own and refuses one from another run rather than print either.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd

from ..gaps import PAIRED_KEYS, ablation_gaps, curve_gaps, headline, paired_gaps, photo_gaps
from ..records import ResultsFileError
from ..seeds import N_SEEDS, PER_CROP_SUFFIX, PHOTO
from .results import Results

HEADLINE_NOISE = "gaussian"  # the report's headline: notebook 05's default `noise`, sigma 25/255
T = TypeVar("T")
# How far comparisons.json's headline may sit from the report's (dB): both come from the same
# numbers, so only a CSV's float parsing (last digit) may part them
HEADLINE_TOLERANCE_DB = 1e-6


@dataclass(frozen=True)
class Compared:
    """Notebook 05's results, each read or computed once: see the module's docstring."""

    table: pd.DataFrame  # comparisons.csv: PSNR (dB) per noise and method, the mean over seeds
    meta: dict  # comparisons.json: how they were made (its headline checked against `headline`)
    headline: dict  # gaps.headline of `table` on HEADLINE_NOISE, with its paired gaps where recorded
    per_crop: pd.DataFrame | None  # comparisons_per_crop.csv; None: written before per-crop scores were kept
    gaps: pd.DataFrame | None  # gaps.paired_gaps, indexed by noise; None without per_crop
    by_photo: pd.DataFrame | None  # gaps.photo_gaps; None without per_crop naming two photos or more
    along_curve: pd.DataFrame | None  # curve_gaps of learning_curve_per_crop.csv; None without it
    by_setting: pd.DataFrame | None  # ablation_gaps of augmentation_ablation_per_crop.csv; None without it


def compared(res: Results) -> Compared | None:
    """Notebook 05's results, made once per Results; None where comparisons.csv or .json is not
    there (its sections say "not run yet")."""
    return res.once("compared", _compare)


def _compare(res: Results) -> Compared | None:
    table, meta = res.csv("comparisons"), res.json("comparisons")
    if table is None or not meta:
        return None
    if HEADLINE_NOISE not in set(table["noise"]):
        raise ResultsFileError(f"{res.dir / 'comparisons.csv'}: no {HEADLINE_NOISE} rows, the report's headline; "
                               "rerun notebook 05 with it among the profile's noises")
    per_crop = per_crop_of(res, "comparisons", ["noise", "method"])
    curve = per_crop_of(res, "learning_curve", ["noise", "n_train", "target"])
    ablation = per_crop_of(res, "augmentation_ablation", ["noise", "augmentation", "method"])
    scores = f"comparisons{PER_CROP_SUFFIX}.csv"
    top = _pairing(res, "comparisons.csv" if per_crop is None else f"comparisons.csv and {scores}",
                   lambda: headline(table, HEADLINE_NOISE, per_crop))
    _check_copy(res, meta["headline"], top)
    gaps = by_photo = along_curve = by_setting = None
    if per_crop is not None:
        gaps = _pairing(res, scores, lambda: paired_gaps(table, per_crop).set_index("noise"))
        if len(photos_of(per_crop)) > 1:
            by_photo = _pairing(res, scores, lambda: photo_gaps(table, per_crop))
    if curve is not None:
        along_curve = _pairing(res, f"learning_curve{PER_CROP_SUFFIX}.csv", lambda: curve_gaps(curve))
    if ablation is not None:
        by_setting = _pairing(res, f"augmentation_ablation{PER_CROP_SUFFIX}.csv", lambda: ablation_gaps(ablation))
    return Compared(table=table, meta=meta, headline=top, per_crop=per_crop, gaps=gaps, by_photo=by_photo,
                    along_curve=along_curve, by_setting=by_setting)


def _pairing(res: Results, files: str, pair: Callable[[], T]) -> T:
    """pair(), gaps made from the results `files` (their names in res.dir, in words); scores that
    cannot be paired (a method scored on other crops or seeds than another, a row or column
    missing) raise ResultsFileError, one line naming the files, as any results file that cannot
    be read (was: the gaps module's ValueError or pandas' KeyError, a traceback naming none)."""
    try:
        return pair()
    except (KeyError, ValueError) as err:
        raise ResultsFileError(f"{res.dir / files}: their scores cannot be paired ({str(err).strip(chr(39))}); "
                               "rerun the notebook") from None


def photos_of(per_crop: pd.DataFrame | None) -> list[str]:
    """The held-out photos that per-crop scores name, in the order of their first crops; none for
    scores written before their photos were kept, or no scores."""
    return [] if per_crop is None or PHOTO not in per_crop else list(dict.fromkeys(per_crop[PHOTO].dropna()))


def _check_copy(res: Results, copy: dict, top: dict) -> None:
    """ResultsFileError where comparisons.json's headline (`copy`) differs from the one made from
    the tables (`top`): the json comes from another run, or from notebook 05 run on another noise
    than HEADLINE_NOISE; or where it lacks a PSNR (copy is a read_record: its error names the
    key). Paired gaps that one of them lacks (results from before per-crop scores, or their
    seed count, were kept) are not compared."""
    for key, made in top.items():
        if key in (*PAIRED_KEYS, N_SEEDS) and key not in copy:
            continue
        if not _same(stored := copy[key], made):
            raise ResultsFileError(f"{res.dir / 'comparisons.json'}: its headline's {key} ({stored}) is not "
                                   f"{made}, from comparisons.csv's {HEADLINE_NOISE} rows and their per-crop "
                                   "scores: the files come from different runs; rerun notebook 05")


def _same(stored, made) -> bool:
    """Whether a value of comparisons.json's headline is the report's: a PSNR or a gap (dB) to
    HEADLINE_TOLERANCE_DB, NaN (no CI) to NaN, any other value (a label, a seed count) equal."""
    if isinstance(stored, float) and isinstance(made, float):
        both_nan = math.isnan(stored) and math.isnan(made)
        return both_nan or math.isclose(stored, made, abs_tol=HEADLINE_TOLERANCE_DB)
    return stored == made


def per_crop_of(res: Results, name: str, keys: list[str]) -> pd.DataFrame | None:
    """NAME_per_crop.csv, or None where it or NAME.csv is missing; ResultsFileError where its crops'
    mean PSNR per row (keys) is not NAME.csv's (to the 1e-4 dB per crop the file keeps): the two
    files come from different runs, as a run stopped between writing them leaves them."""
    table, per_crop = res.csv(name), res.csv(f"{name}{PER_CROP_SUFFIX}")
    if table is None or per_crop is None:
        return None
    means = per_crop.groupby(keys)["psnr"].mean()
    table_psnr = table.set_index(keys)["psnr"].reindex(means.index)
    if len(means) != len(table) or not ((means - table_psnr).abs() < 1e-3).all():
        raise ResultsFileError(f"{res.dir / f'{name}{PER_CROP_SUFFIX}.csv'}: its crops' mean PSNRs are not "
                               f"{name}.csv's: the two files come from different runs; rerun the notebook")
    return per_crop
