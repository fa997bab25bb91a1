"""Hyperparameter sweeps as tidy tables: one row per training run.

A sweep trains one model per (value, seed), evaluates it on validation photos that training
never saw, and appends a row to a CSV after every run. Re-running an interrupted sweep reads
that CSV and skips the runs it already holds, so a sweep can be stopped at any time.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .config import describe_device, resolve_device
from .data import DenoisingData
from .files import git_commit, write_csv
from .many import train_each
from .metrics import mean_ci
from .runs import NOT_A_RESULT, TrainConfig, config_digest

# The columns that identify a run: a row with the same values is the same run. config_key
# digests everything else (the base config without the seed and the swept option, and the
# data's meta; see n2n_utils.runs), so a row from a sweep of another size or recipe is never
# mistaken for this one.
RUN_KEYS = ["config_key", "param", "value", "seed"]
# Hex digests that pandas would read as numbers ("012345678901" as 12345678901, "1234567e8901" as
# inf): read as the text they are, so that a row matches its run and is written back unchanged.
HEX_COLUMNS = {"config_key": str, "git_commit": str}


def config_key(base: TrainConfig, param: str, data_meta: dict) -> str:
    """The digest of what a sweep's runs share: `base` but its seed and `param`, and the data."""
    return config_digest(base, data_meta, leave_out={"seed", param})


def _sweepable(param: str) -> None:
    known = {f.name for f in dataclasses.fields(TrainConfig)} - NOT_A_RESULT - {"seed"}
    if param not in known:
        raise ValueError(f"cannot sweep {param!r}; sweepable options: {sorted(known)}")


def run_sweep(data: DenoisingData, param: str, values: list | tuple, seeds: list | tuple,
              base: TrainConfig, csv_path: str | Path, profile: str = "",
              progress: bool = True) -> pd.DataFrame:
    """Train `base` with `param` set to each value, once per seed; return all rows.

    Rows already in `csv_path` (same RUN_KEYS) are kept and not re-run."""
    _sweepable(param)
    csv_path = Path(csv_path)
    done = pd.read_csv(csv_path, dtype=HEX_COLUMNS) if csv_path.exists() else pd.DataFrame(columns=RUN_KEYS)
    missing = [k for k in RUN_KEYS if k not in done.columns]
    if missing:  # written by an older version: its runs cannot be matched, so they are redone
        kept = csv_path.with_name(f"{csv_path.stem}.older-version{csv_path.suffix}")
        csv_path.replace(kept)
        warnings.warn(f"{csv_path}: written by an older version (no {', '.join(missing)} column); "
                      f"moved to {kept.name}, and its runs are done again", stacklevel=2)
        done = pd.DataFrame(columns=RUN_KEYS)
    rows = done.to_dict("records")
    identity = {"config_key": config_key(base, param, data.meta), "param": param}
    described = {"epochs": base.epochs, "n_train": len(data.train_input), "n_val": len(data.val_input),
                 "dataset": data.meta.get("name", ""), "noise": data.meta.get("noise", "")}
    have = {_key(r) for r in rows}
    todo = [(v, s) for v in values for s in seeds
            if _key({**identity, "value": v, "seed": s}) not in have]
    device = describe_device(resolve_device(base.device))
    configs = [dataclasses.replace(base, **{param: value}, seed=seed, progress=False) for value, seed in todo]
    bar = tqdm(total=len(todo), desc=f"{param} sweep", disable=not progress, unit="run")
    # runs that share a pass are trained together where that is faster (n2n_utils.many)
    # ... and a run that diverges (a learning rate too high, say) is a row: PSNR NaN, and why
    for i, result in train_each(data, configs, keep_diverged=True):
        value, seed = todo[i]
        bar.update()
        diverged = result.info.get("diverged", "")
        rows.append({**identity, "value": value, "seed": seed, **described, "psnr": result.final_psnr,
                     "final_train_loss": math.nan if diverged else float(result.history["train_loss"].iloc[-1]),
                     "diverged": diverged, "precision": result.info["precision"], "seconds": result.info["seconds"],
                     "device": device, "profile": profile, "git_commit": git_commit(),
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        # after every run: an interruption loses one run at most
        write_csv(csv_path, pd.DataFrame(rows), profile=profile, device=device, sweep=param)
    bar.close()
    table = pd.DataFrame(rows)
    wanted = (table["config_key"].eq(identity["config_key"]) & table["param"].eq(param)
              & table["value"].astype(str).isin([str(v) for v in values])
              & table["seed"].astype(str).isin([str(s) for s in seeds]))
    return table[wanted].reset_index(drop=True)


def _key(row: dict) -> tuple:
    return tuple(str(row[k]) for k in RUN_KEYS)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per swept value: mean PSNR over the seeds whose runs finished, its 95% CI
    half-width (NaN where fewer than two finished: no CI can be given, and NO_CI shows it), run
    count and how many of them diverged (PSNR NaN). A value with a diverged run keeps the mean
    of its others (NaN when every one diverged), flagged by `n_diverged` wherever it is shown,
    and is never `best_value`."""
    out = []
    for value, group in runs.groupby("value", sort=True):
        mean, half = mean_ci(group["psnr"].dropna())
        out.append({"value": value, "psnr_mean": mean, "psnr_ci95": half, "n_runs": len(group),
                    "n_diverged": int(group["psnr"].isna().sum()), "seconds_mean": group["seconds"].mean()})
    return pd.DataFrame(out)


NO_CI = "n/a"  # a CI half-width that cannot be given (one run finished), in tables and the drift table


def mean_words(mean: float, half: float) -> str:
    """A mean PSNR with its 95% CI in words: '26.00 ± 0.10 dB', or '26.00 dB, one run: no CI'
    where `half` is NaN (metrics.mean_ci of one run); no parentheses, as findings put it in some."""
    return f"{mean:.2f} dB, one run: no CI" if math.isnan(half) else f"{mean:.2f} ± {half:.2f} dB"


def diverged_values(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of `summarize`'s table whose value had a run that diverged (none for a summary
    from before divergence was recorded)."""
    return summary[summary["n_diverged"] > 0] if "n_diverged" in summary else summary.iloc[:0]


def diverged_words(rows: pd.DataFrame) -> str:
    """Summary rows in words, for findings and the report: '0.0064 (2 of 3 runs), ...' (the
    runs of each value that diverged, of all its runs)."""
    return ", ".join(f"{row.value:g} ({row.n_diverged} of {row.n_runs} runs)" for row in rows.itertuples())


def all_finished(summary: pd.DataFrame) -> pd.Series:
    """Whether each value of `summarize`'s table has a mean PSNR and no run that diverged."""
    diverged = summary["n_diverged"] > 0 if "n_diverged" in summary else False
    return summary["psnr_mean"].notna() & ~diverged


def best_value(summary: pd.DataFrame):
    """The swept value with the highest mean PSNR among those whose every run finished: a value
    with a run that diverged is never the best, whatever the mean of its others. A ValueError,
    listing them, when every value had a run that diverged: lower the grid's learning rates, say."""
    if not all_finished(summary).any():
        runs = ", ".join(f"{row.value:g}: {row.n_diverged} of {row.n_runs} runs" for row in summary.itertuples())
        raise ValueError(f"no swept value has all its runs finished: every one had a run that diverged ({runs})")
    return summary.loc[summary["psnr_mean"].where(all_finished(summary)).idxmax(), "value"]


def verdict(summary: pd.DataFrame, chosen) -> dict:
    """Whether `chosen` (a swept value, e.g. the report's) holds against the best one: best
    (value), gap (dB, best's mean minus chosen's, over the runs that finished; NaN when every
    run at chosen diverged), diverged (a run at `chosen` diverged, so it does not hold, whatever
    the others scored) and tied: True where `chosen` is the best or the gap is within the sum of
    both 95% CI half-widths, False where it is not or `chosen` diverged, and None where a CI
    that would decide it cannot be given (one run: NaN)."""
    table = summary.set_index("value")
    best = best_value(summary)
    gap = float(table.loc[best, "psnr_mean"] - table.loc[chosen, "psnr_mean"])
    diverged = bool(not all_finished(summary).set_axis(summary["value"]).loc[chosen])
    within = table.loc[best, "psnr_ci95"] + table.loc[chosen, "psnr_ci95"]
    if diverged or best == chosen:
        tied = not diverged
    else:
        tied = None if math.isnan(within) else bool(gap <= within)
    return {"best": best, "gap": gap, "diverged": diverged, "tied": tied}
