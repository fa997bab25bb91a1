"""How far a reproduction drifted from the committed results: each headline number, committed
against reproduced, and whether the difference lies inside the committed number's 95% CI.

    drift_table(Path("results/quick"), Path("reproduced/quick-84a1f99a64f9/results/quick"))

It reads only results files (JSON and CSV), so a new headline is one entry in HEADLINES; one that
is damaged, or lacks a key a headline reads, raises records.ResultsFileError naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .comparisons import N2C, N2N
from .generalisation import BM3D
from .records import parse_file, read_record
from .runs import REPORT_BATCH_SIZE, REPORT_LR
from .sweeps import NO_CI, all_finished, best_value

# A headline reads a results folder and gives (value, 95% CI half-width or None), or None when
# its file is missing. Text values (a best setting) compare by equality.
Headline = Callable[[Path], "tuple[float | str, float | None] | None"]


def _json(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return read_record(path) if path.exists() else None


def _csv(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / f"{name}.csv"
    return parse_file(path, pd.read_csv, "a table") if path.exists() else None


def _field(name: str, key: str) -> Headline:
    def read(folder: Path):
        record = _json(folder, name)
        return None if record is None else (record[key], None)
    return read


def _over_seeds(name: str, key: str, ci_key: str) -> Headline:
    """A record's mean over its `seeds`, with the 95% CI across them in `ci_key`; no CI for one
    seed (its recorded 0 would call any difference outside it)."""
    def read(folder: Path):
        record = _json(folder, name)
        if record is None:
            return None
        return record[key], record.get(ci_key) if len(record.get("seeds") or []) > 1 else None
    return read


def _sweep_at(name: str, value: float | None) -> Headline:
    """A sweep's mean PSNR with its CI at `value`, or at its best value when None (sweeps.best_value);
    NaN (drift_table's "diverged") where a run of that value diverged, whatever its others scored."""
    def read(folder: Path):
        summary = _csv(folder, f"{name}_summary")
        if summary is None:
            return None
        if value is None:  # the best; where every value diverged, the first (its NaN: "diverged")
            try:
                rows = summary[summary["value"] == best_value(summary)]
            except ValueError:
                rows = summary.iloc[:1]
        else:
            rows = summary[summary["value"] == value]
        if rows.empty:  # a grid without that value
            return None
        row = rows.iloc[0]
        return (row["psnr_mean"] if all_finished(rows).iloc[0] else math.nan), row["psnr_ci95"]
    return read


def _sweep_best(name: str) -> Headline:
    def read(folder: Path):
        record = _json(folder, name)
        return None if record is None else (f"{record['best']:g}", None)
    return read


def _comparison(method: str, noise: str = "gaussian") -> Headline:
    def read(folder: Path):
        table = _csv(folder, "comparisons")
        if table is None:
            return None
        rows = table[(table["noise"] == noise) & (table["method"] == method)]
        return None if rows.empty else (rows["psnr"].iloc[0], rows["psnr_ci95"].iloc[0])
    return read


def _blind_target(key: str) -> Headline:
    """One of notebook 07's target numbers (blind.sweep_targets), a difference in dB."""
    def read(folder: Path):
        record = _json(folder, "blind_sigma")
        return None if record is None or key not in record.get("targets", {}) else (record["targets"][key], None)
    return read


def _best_recipe_psnr(folder: Path):
    record, table = _json(folder, "generalisation"), _csv(folder, "generalisation")
    if record is None or table is None:
        return None
    rows = table[(table["method"] == record["best_recipe"]) & (table["photo"] == "all")]
    return None if rows.empty else (rows["psnr"].iloc[0], rows["ci95"].iloc[0])


def _third_split(folder: Path):
    """The chosen recipe's mean gap to BM3D on the photos it was not chosen on, with its 95% CI
    over photos (generalisation.third_split_estimate); None for results made before it was."""
    record = _json(folder, "generalisation")
    split = (record or {}).get("third_split")
    return None if not split else (split["gap"], split["gap_ci95"])


HEADLINES: dict[str, Headline] = {
    "noisy validation input, PSNR (dB)": _field("data_summary", "noisy_val_psnr"),
    "main run (notebook 01), PSNR (dB)": _over_seeds("train_resunet", "val_psnr", "val_psnr_ci95"),
    "learning-rate sweep: best value": _sweep_best("lr_sweep"),
    "learning-rate sweep: best PSNR (dB)": _sweep_at("lr_sweep", None),
    f"learning-rate sweep: PSNR at {REPORT_LR:g} (dB)": _sweep_at("lr_sweep", REPORT_LR),
    "batch-size sweep: best value": _sweep_best("batch_size_sweep"),
    "batch-size sweep: best PSNR (dB)": _sweep_at("batch_size_sweep", None),
    f"batch-size sweep: PSNR at {REPORT_BATCH_SIZE} (dB)": _sweep_at("batch_size_sweep", REPORT_BATCH_SIZE),
    f"gaussian: {N2N}, PSNR (dB)": _comparison(N2N),
    f"gaussian: {N2C}, PSNR (dB)": _comparison(N2C),
    f"gaussian: {BM3D}, PSNR (dB)": _comparison(BM3D),
    "generalisation: best recipe": _field("generalisation", "best_recipe"),
    "generalisation: best recipe, all photos, PSNR (dB)": _best_recipe_psnr,
    "generalisation: best recipe on the photos it was not chosen on, gap to BM3D (dB)": _third_split,
    "blind weights at sigma 25/255, against the sigma-25 weights (dB)": _blind_target("gap_to_sigma25_at_25"),
    "blind weights: worst gap to BM3D, sigma 10-50/255 (dB)": _blind_target("worst_gap_to_bm3d"),
}


def drift_table(committed: Path, reproduced: Path) -> pd.DataFrame:
    """One row per headline: committed and reproduced values, their difference, the committed
    95% CI half-width, and `inside`: "yes"/"no" (|difference| <= CI), "same"/"differs" for
    text values, "" where no CI was recorded, "diverged" where either is NaN (a sweep value
    with a run that diverged, whatever its others scored), "missing" where either file is absent
    or holds no such number (made before it was recorded)."""
    rows = []
    for label, read in HEADLINES.items():
        a, b = read(Path(committed)), read(Path(reproduced))
        row = {"number": label, "committed": a and a[0], "reproduced": b and b[0], "difference": None,
               "ci95": a and a[1], "inside": "missing"}
        if a is not None and b is not None:
            (va, ci), (vb, _) = a, b
            row.update(committed=va, reproduced=vb, ci95=ci)
            if isinstance(va, str) or isinstance(vb, str):
                row["inside"] = "same" if str(va) == str(vb) else "differs"
            elif pd.isna(va) or pd.isna(vb):  # a sweep value with a run that diverged
                row["inside"] = "diverged"
            else:
                row["difference"] = float(vb) - float(va)
                row["inside"] = "" if ci is None or pd.isna(ci) else ("yes" if abs(row["difference"]) <= ci else "no")
        rows.append(row)
    return pd.DataFrame(rows)


def format_drift(table: pd.DataFrame) -> str:
    """The drift table as a markdown table, numbers to 2 decimals; a committed number without a
    CI (one run or seed, or none recorded) shows NO_CI in the CI column, not a blank or 0.00."""
    def fmt(v):
        if v is None or (isinstance(v, float) and pd.isna(v)):
            return ""
        return f"{v:.2f}" if isinstance(v, float) else str(v)
    shown = table.astype(object).map(fmt)
    measured = table["inside"].ne("missing") & ~table["committed"].map(lambda v: isinstance(v, str))
    shown.loc[measured & table["ci95"].isna(), "ci95"] = NO_CI
    shown = shown.rename(columns={"ci95": "committed 95% CI", "inside": "inside CI"})
    return shown.to_markdown(index=False, disable_numparse=True)  # keep "0.00", not "0"
