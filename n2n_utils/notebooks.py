"""What the notebooks do the same way: their setup (`setup`), the report's two sweeps, which
notebooks 02 (learning rate) and 03 (batch size) run with one function (`study_sweep`), and the
network that notebook 04 shows, notebook 01's (`trained_checkpoint`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .data import DenoisingData
from .files import json_text, provenance, write_csv, write_json
from .findings import sweep_finding
from .plots import plot_sweep, save_figure
from .profiles import OutputDirs, Profile, get_profile, output_dirs, run_record
from .records import read_record
from .runs import REPORT_BATCH_SIZE, REPORT_LR, TrainConfig, data_identity
from .sweeps import best_value, run_sweep, summarize


class Setup(NamedTuple):
    profile: Profile
    dirs: OutputDirs
    made_by: dict  # recorded in every results file, with commit and time (files.provenance)


def setup(profile: str, output_dir: str | Path = "", seed: int = 0, device: str = "auto") -> Setup:
    """A notebook's first step: its profile (N2N_PROFILE overrides it), its output folders
    (created) and the record of the run that every results file carries."""
    prof = get_profile(profile)
    return Setup(prof, output_dirs(prof.name, output_dir), run_record(prof, seed, device))


@dataclass(frozen=True)
class StudySweep:
    """One of the report's sweeps: the option, its words, the profile's grid and the outputs."""

    param: str
    label: str         # in words, for axes and sentences
    grid: str          # the Profile field holding the values
    name: str          # results/<profile>/<name>.csv, _summary.csv and .json
    figure: str        # figures/<profile>/<figure>.png
    title: str
    chosen: float      # the report's value


STUDY_SWEEPS = {
    "lr": StudySweep("lr", "learning rate", "lr_grid", "lr_sweep", "fig2_lr", "Fig. 2", REPORT_LR),
    "batch_size": StudySweep("batch_size", "mini-batch size", "batch_grid", "batch_size_sweep",
                             "fig3_batch_size", "Fig. 3", REPORT_BATCH_SIZE),
}


def sweep_base(prof: Profile, device: str = "auto") -> TrainConfig:
    """The config every sweep run shares: the report's recipe at the profile's sweep budget,
    validated after the last epoch only."""
    return TrainConfig(epochs=prof.sweep_epochs, lr=REPORT_LR, batch_size=REPORT_BATCH_SIZE,
                       precision=prof.precision, device=device, eval_every=prof.sweep_epochs, progress=False)


def study_sweep(param: str, data: DenoisingData, prof: Profile, dirs: OutputDirs, made_by: dict,
                device: str = "auto") -> dict:
    """Notebooks 02 and 03: train one network per value of the profile's grid and seed (runs
    already in the results CSV are kept), then write the runs, the summary, the figure and the
    results JSON (`made_by`: setup's record). Returns runs and summary (DataFrames), best
    (value) and finding (sweep_finding's sentence)."""
    sweep = STUDY_SWEEPS[param]
    base = sweep_base(prof, device)
    runs = run_sweep(data, param, getattr(prof, sweep.grid), prof.sweep_seeds, base,
                     dirs.results / f"{sweep.name}.csv", profile=prof.name)
    summary = summarize(runs)
    best = best_value(summary)
    write_csv(dirs.results / f"{sweep.name}_summary.csv", summary, **made_by)
    fig = plot_sweep(summary, sweep.label, reference=sweep.chosen, title=sweep.title)
    save_figure(fig, dirs.figures, sweep.figure)
    write_json(dirs.results / f"{sweep.name}.json", provenance(
        **made_by, seeds=list(prof.sweep_seeds), data=data.meta, base_config=base.to_dict(),
        param=param, best=float(best), best_psnr=float(summary.set_index("value").loc[best, "psnr_mean"]),
        summary=summary.to_dict("records")))
    return {"runs": runs, "summary": summary, "best": best,
            "finding": sweep_finding(summary, sweep.label, sweep.chosen)}


TRAINED = "train_resunet.json"  # notebook 01's results file, which names its checkpoint


def trained_checkpoint(prof: Profile, dirs: OutputDirs, data: DenoisingData) -> Path:
    """Notebook 04's network: the checkpoint that notebook 01 recorded in dirs.results (TRAINED).
    Refused in one line where 01 has not run there, where its record is damaged or of another
    version (records.ResultsFileError), or where 01 trained on other data than `data` (another
    noise or seed, say), which the checkpoint would be shown on as if it were its own."""
    trained = dirs.results / TRAINED
    if not trained.exists():
        raise FileNotFoundError(f"{trained}: run notebooks/01_train_resunet.ipynb with profile {prof.name!r} first")
    record = read_record(trained, "notebooks/01_train_resunet.ipynb")
    theirs, ours = data_identity(record.get("data") or {}), data_identity(json.loads(json_text(data.meta)))
    if theirs != ours:
        differ = ", ".join(f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} here"
                           for k in sorted(theirs.keys() | ours.keys()) if theirs.get(k) != ours.get(k))
        raise ValueError(f"{trained}: notebook 01 trained on other data ({differ}); run 01 with these "
                         f"parameters first, or this notebook with 01's")
    return dirs.runs / record["checkpoint"]
