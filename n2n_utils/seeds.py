"""Several seeds of one run: which seeds a notebook trains, and its results as the mean with a
95% confidence interval across seeds.

Notebooks 01, 05 and 06 train each of their networks once per seed of `run_seeds` (the
profile's n_seeds, counted up from the notebook's seed; the data stay the notebook's, so the
seeds differ in initialisation and data order only, as the sweeps' do). Each table is written
twice by `write_seed_tables`: `<name>_seeds.csv`, one row per run with its `seed` (rows that no
seed changes, the noisy input and the classical methods, have none), and `<name>.csv`, their
`mean_over_seeds`, which figures, the report and the drift check read. Where the runs carry
their per-crop scores (PER_CROP: notebook 05's), a third table, `<name>_per_crop.csv`, keeps them,
one row per run and validation crop, for paired comparisons of methods scored on the same crops
(metrics.paired_gap).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .files import write_csv
from .metrics import mean_ci
from .profiles import Profile

SEED = "seed"        # the runs tables' column
N_SEEDS = "n_seeds"  # the summaries' column: how many runs (seeds) each row is the mean of
PER_CROP = "per_crop"  # a run's per-crop scores (crop_scores), written apart to <name>_per_crop.csv
PER_CROP_SUFFIX = "_per_crop"
CROP, PHOTO = "crop", "photo"  # the per-crop tables' columns: index in the validation set, source photo


def run_seeds(profile: Profile, seed: int) -> tuple[int, ...]:
    """The training seeds of a notebook run with `seed`: seed, seed + 1, ... (profile.n_seeds)."""
    return tuple(range(seed, seed + profile.n_seeds))


def mean_over_seeds(runs: pd.DataFrame | list[dict], keys: Sequence[str], value: str = "psnr",
                    ci: str = "psnr_ci95") -> pd.DataFrame:
    """One row per distinct `keys`, in order of first appearance. Where several runs (seeds)
    share the keys, `value` is their mean and `ci` the half-width of its 95% Student-t CI across
    them (metrics.mean_ci), every other numeric column that differs between them its mean, and
    the rest the first run's (so counts such as n stay whole numbers); a key with one run keeps
    its row unchanged, `ci` included (for one network: across crops). The seed column goes;
    N_SEEDS counts the runs."""
    runs = pd.DataFrame(runs)
    rows = []
    for _, group in runs.groupby(list(keys), sort=False, dropna=False):
        row = group.iloc[0].to_dict()
        if len(group) > 1:
            for column in group.columns:
                if (column not in keys and pd.api.types.is_numeric_dtype(group[column])
                        and group[column].nunique(dropna=False) > 1):
                    row[column] = group[column].mean()
            row[value], row[ci] = mean_ci(group[value])
        row.pop(SEED, None)
        rows.append({**row, N_SEEDS: len(group)})
    return pd.DataFrame(rows)


def crop_scores(psnr: Sequence[float], photos: Sequence[str] | None = None) -> dict[str, list]:
    """One run's per-crop PSNR (dB, in validation order) as a row's PER_CROP value: columns CROP
    (0, 1, ...), PHOTO (each crop's source photo, data.val_groups, where there is one) and psnr,
    rounded to 1e-4 dB so that the files stay small (a mean moves by less than that)."""
    if photos is not None and len(photos) != len(psnr):
        raise ValueError(f"{len(psnr)} crops scored but {len(photos)} photos named: give data.val_groups of the same "
                         "validation set")
    scores = {CROP: list(range(len(psnr))), "psnr": [round(float(v), 4) for v in psnr]}
    return scores | ({PHOTO: list(photos)} if photos is not None else {})


def split_per_crop(runs: pd.DataFrame | list[dict], keys: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """`runs` without their PER_CROP column, and those scores as one tidy table: `keys`, SEED
    (blank for a run that no seed changes), CROP, PHOTO where recorded, and psnr (dB); None where
    no run carries them."""
    runs = pd.DataFrame(runs)
    if PER_CROP not in runs.columns:
        return runs, None
    tables = [pd.DataFrame(scores).assign(**{k: run[k] for k in keys}, **{SEED: run.get(SEED)})
              for _, run in runs.iterrows() if isinstance(scores := run[PER_CROP], dict)]
    per_crop = pd.concat(tables, ignore_index=True)
    first = [*keys, SEED, CROP, *([PHOTO] if PHOTO in per_crop else [])]
    per_crop = per_crop[[*first, "psnr"]].astype({SEED: "Int64"})
    return runs.drop(columns=PER_CROP), per_crop


def write_seed_tables(folder: Path, name: str, runs: pd.DataFrame | list[dict], keys: Sequence[str],
                      made_by: dict, value: str = "psnr", ci: str = "psnr_ci95") -> pd.DataFrame:
    """Write `runs` to folder/<name>_seeds.csv and their `mean_over_seeds` to folder/<name>.csv,
    and where they carry PER_CROP scores, those to folder/<name>_per_crop.csv (split_per_crop),
    each with `made_by`, notebooks.setup's record; return the summary."""
    runs, per_crop = split_per_crop(runs, keys)
    if SEED in runs.columns:  # whole numbers, blank where no seed applies (not 0.0 and NaN)
        runs[SEED] = runs[SEED].astype("Int64")
    summary = mean_over_seeds(runs, keys, value, ci)
    write_csv(Path(folder) / f"{name}_seeds.csv", runs, **made_by)
    write_csv(Path(folder) / f"{name}.csv", summary, **made_by)
    if per_crop is not None:
        write_csv(Path(folder) / f"{name}{PER_CROP_SUFFIX}.csv", per_crop, **made_by)
    return summary
