"""Several seeds of one run: which seeds a notebook trains, and its results as the mean with a
95% confidence interval across seeds.

Notebooks 01, 05 and 06 train each of their networks once per seed of `run_seeds` (the
profile's n_seeds, counted up from the notebook's seed; the data stay the notebook's, so the
seeds differ in initialisation and data order only, as the sweeps' do). Each table is written
twice by `write_seed_tables`: `<name>_seeds.csv`, one row per run with its `seed` (rows that no
seed changes, the noisy input and the classical methods, have none), and `<name>.csv`, their
`mean_over_seeds`, which figures, the report and the drift check read.
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


def write_seed_tables(folder: Path, name: str, runs: pd.DataFrame | list[dict], keys: Sequence[str],
                      made_by: dict, value: str = "psnr", ci: str = "psnr_ci95") -> pd.DataFrame:
    """Write `runs` to folder/<name>_seeds.csv and their `mean_over_seeds` to folder/<name>.csv
    (with `made_by`, notebooks.setup's record); return the latter."""
    runs = pd.DataFrame(runs)
    if SEED in runs.columns:  # whole numbers, blank where no seed applies (not 0.0 and NaN)
        runs[SEED] = runs[SEED].astype("Int64")
    summary = mean_over_seeds(runs, keys, value, ci)
    write_csv(Path(folder) / f"{name}_seeds.csv", runs, **made_by)
    write_csv(Path(folder) / f"{name}.csv", summary, **made_by)
    return summary
