"""Run the whole study headlessly: every notebook in order, with papermill.

    python -m n2n_utils.pipeline --profile quick            # a fresh reproduction, then its drift
    python -m n2n_utils.pipeline --profile quick --in-place # refresh the committed results/quick/
    python -m n2n_utils.pipeline --profile full --device cuda --minutes 8 --out /scratch/n2n-full

Where it writes. By default into a folder of its own, reproduced/<profile>-<commit>/, laid out
like the repository: results/<profile>/, figures/<profile>/, runs/<profile>/ (checkpoints and
the executed notebooks), so that nothing committed is read or overwritten and every sweep run
is recomputed. Run again at the same commit, it resumes its own interrupted work (checkpoints,
sweep rows) and nothing else. `--out DIR` picks another folder; `--in-place` writes into the
repository's results/, figures/ and runs/ as the committed results were made. When it is done,
it prints the drift table (n2n_utils.drift): each headline number, committed against
reproduced, and whether the difference lies inside the committed 95% CI (in place: the results
as they were before the run against what it wrote). `N2N_OUTPUT_ROOT=DIR make report` renders
DIR/report/report.md from such a folder. `--notebooks` runs some of them: pipeline.json keeps
the rows of the others from the record it finds (marked `carried_from`, with the speed measured
then), so that a partial rerun leaves the record of the whole run, and the estimates calibrated
on it, whole.

Time. Before the first notebook it measures this machine's training speed for a few seconds and
prints the expected time of each notebook and of the whole run (n2n_utils.estimate); while it
runs it prints "notebook k of n" with minutes elapsed and left. `--minutes M` sizes the epoch
counts of the main run, the sweeps and the comparisons by one factor so that the estimate fits
M minutes; a rerun with the same budget, data and notebooks keeps the epochs recorded, so that
it resumes. results/<profile>/pipeline.json records the speed measured, the epochs used, and
each notebook's estimated and actual seconds. A failing notebook stops the pipeline with its
failing cell and error, an interrupt (Ctrl-C) with one line and exit status 130, a SIGTERM
(`kill`, `timeout`, a batch scheduler) the same way with status 143 (pipeline.json records
either); what was written before stays, and the same command resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from . import config
from .classical import METHODS, suited_noises
from .config import OptionError, describe_device, resolve_device, resolve_precision
from .data import DATASETS
from .drift import drift_table, format_drift
from .estimate import (
    Progress,
    Work,
    estimate_seconds,
    load_calibration,
    measure_bm3d_seconds,
    measure_images_per_s,
    notebook_work,
    plan_table,
    size_epochs,
)
from .explore import LEVELS
from .files import git_commit, provenance, write_csv, write_json
from .noise import NOISE_MODELS
from .profiles import EPOCH_FIELDS, PROFILES, OutputDirs, output_dirs, with_epochs
from .records import ResultsFileError, read_record

NOTEBOOKS = [
    "00_data_exploration.ipynb",
    "01_train_resunet.ipynb",
    "02_learning_rate_sweep.ipynb",
    "03_batch_size_sweep.ipynb",
    "04_predictions.ipynb",
    "05_comparisons.ipynb",
    "06_generalisation.ipynb",
    "07_explore.ipynb",
]
# These need clean training images and the noise models of an embedded dataset.
NEEDS_EMBEDDED_DATA = {"05_comparisons.ipynb", "06_generalisation.ipynb"}
# The noises each of these can run on (`--noise`): 05 compares classical methods, 06 measures every
# recipe against BM3D, 07's explorer has a level control per noise.
NOISES_OF = {"05_comparisons.ipynb": ("a classical method suits", suited_noises()),
             "06_generalisation.ipynb": ("BM3D suits", sorted(METHODS["bm3d"].noises)),
             "07_explore.ipynb": ("the explorer offers", sorted(set(LEVELS) & set(NOISE_MODELS)))}
PROGRESS_EVERY_S = 60.0  # how often a running notebook's progress line is printed
DEVICES = ("auto", "cpu", "cuda", "mps")
RESUME_HINT = "what was written stays: run the same command again to resume"  # an interrupt's


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where it arrives as Ctrl-C's KeyboardInterrupt is (see `main`), so that it
    stops the run the same way: one line, `interrupted` in pipeline.json, the kernel shut down."""


def interrupt_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status of a run stopped by `interrupt`, as a shell gives a process that a signal
    ended: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


@contextlib.contextmanager
def _sigterm_interrupts():
    """While the body runs, SIGTERM raises Terminated (its default would end the process at
    once: no line, no record, and the notebook's kernel left running). Main thread only."""
    def terminated(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class Plan:
    """What a run will do and how long it should take; pipeline.json records all of it."""
    epochs: dict[str, int]                   # EPOCH_FIELDS -> epochs, as the notebooks will use them
    work: dict[str, Work]                    # runnable notebook -> its work at those epochs
    estimates: dict[str, float]              # runnable notebook -> expected seconds
    measured: dict = field(default_factory=dict)  # images_per_s, bm3d_s, device, precision, seconds
    calibration: str = ""
    budget_minutes: float | None = None


def default_out(profile: str) -> Path:
    """A reproduction's own folder: reproduced/<profile>-<commit>, so that a rerun at the same
    commit resumes it and another commit starts afresh."""
    return config.REPRODUCED_DIR / f"{profile}-{git_commit()}"


def run_pipeline(profile: str = "quick", dataset: str = "natural32", noise: str = "gaussian",
                 seed: int = 0, device: str = "auto", out: str | Path | None = None, in_place: bool = False,
                 minutes: float | None = None, notebooks: list[str] | None = None,
                 notebooks_dir: Path = config.NOTEBOOKS_DIR, plan_only: bool = False) -> dict:
    """Measure, plan, execute the notebooks in order, print the drift; return the pipeline's
    record (also written to results/<profile>/pipeline.json). See the module docstring.
    `plan_only`: measure and print the plan (each notebook's expected minutes), run nothing,
    and return the plan's estimates."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {DEVICES}")
    chosen = sorted(dict.fromkeys(notebooks or NOTEBOOKS),  # each once, in the study's order
                    key=lambda n: NOTEBOOKS.index(n) if n in NOTEBOOKS else -1)
    unknown = [n for n in chosen if n not in NOTEBOOKS]
    if unknown:
        raise OptionError("notebooks", " ".join(unknown), f"not a notebook of the study; choose from {NOTEBOOKS}")
    if seed < 0:
        raise OptionError("seed", seed, "0 or more")
    if minutes is not None and not 0 < minutes < math.inf:
        raise OptionError("minutes", minutes, "a time budget must be a positive number of minutes")
    if str(dataset) not in DATASETS and not (str(dataset).strip() and Path(dataset).is_dir()):
        raise OptionError("dataset", repr(str(dataset)), f"neither one of {DATASETS} nor an existing folder")
    if out is not None and not str(out).strip():  # Path("") is the folder the command runs in
        raise OptionError("out", "''", "an empty path: name a folder, or leave --out out for the default")
    if in_place and out:
        raise ValueError("choose --in-place or --out, not both")
    root = None if in_place else Path(out or default_out(profile)).resolve()
    if str(dataset) not in DATASETS:  # a folder: the notebooks run elsewhere (in notebooks_dir)
        dataset = str(Path(dataset).resolve())
    dirs = output_dirs(profile) if root is None else _root_dirs(root, profile)
    skipped = left_out(chosen, dataset, noise)
    record = provenance(profile=profile, device=describe_device(resolve_device(device)), seed=seed,
                        dataset=str(dataset), noise=noise,
                        output_root=str(root) if root else "in place")
    runnable = [n for n in chosen if n not in skipped]
    record["budget_notebooks"] = runnable  # what a budget is sized over; a rerun of the same keeps its epochs
    kept = kept_epochs(dirs.results / "pipeline.json", record, minutes)
    plan = make_plan(profile, runnable, dataset, noise, device, minutes, kept)
    print_plan(plan, profile)
    if kept:
        print(f"epochs kept from the earlier run of this budget in {dirs.results / 'pipeline.json'}, so that "
              f"this one resumes it (move that file away to size them again)", flush=True)
    if plan_only:
        for name, why in skipped.items():  # a run says so when it reaches them
            print(f"{name}: skipped, it {why}", flush=True)
        return {"profile": profile, "estimates_s": dict(plan.estimates), "epochs": plan.epochs}
    parameters = {"profile": profile, "dataset": str(dataset), "noise": noise, "seed": seed,
                  "device": device, "output_dir": ""}
    # The kernels inherit these: a stray N2N_PROFILE in the shell must not override --profile.
    env = {"N2N_PROFILE": profile, "N2N_EPOCHS": json.dumps(plan.epochs)}
    if root is not None:
        env.update(N2N_OUTPUT_ROOT=str(root), N2N_RESULTS_DIR=None, N2N_FIGURES_DIR=None, N2N_RUNS_DIR=None)
    with tempfile.TemporaryDirectory(prefix="n2n-before-") as before:
        if root is None:  # in place: keep what the run overwrites, to show the drift after
            shutil.copytree(dirs.results, before, dirs_exist_ok=True)
        with _environment(env):
            record = _execute(chosen, parameters, dirs, plan, record, skipped, notebooks_dir)
        if root is None:
            report_drift(Path(before), dirs.results, record, label="before this run", write=False)
        else:
            report_drift(config.COMMITTED_RESULTS_DIR / profile, dirs.results, record)
            print(f"report of this run: N2N_OUTPUT_ROOT={root} make report", flush=True)
    return record


def report_drift(committed: Path, reproduced: Path, record: dict, label: str | None = None,
                 write: bool = True) -> None:
    """Print (and, if `write`, write to drift.csv) the drift table of `reproduced` against
    `committed` (named `label` in the output, else by its path), when the committed results
    exist and were made from the same dataset, noise and seed; a results file of either that
    cannot be read is named in one line instead (records.ResultsFileError)."""
    made, name = committed / "pipeline.json", label or f"committed ({committed})"
    same = ("dataset", "noise", "seed")
    if committed.resolve() == reproduced.resolve():
        return
    if not made.exists():
        print(f"no drift table: no results of profile {record['profile']} ({name}) to compare this run with",
              flush=True)
        return
    try:
        theirs = read_record(made, "the pipeline")
        if any(theirs.get(k) != record[k] for k in same):
            print(f"no drift table: the results {name} come from {[theirs.get(k) for k in same]}, "
                  f"this run from {[record[k] for k in same]}", flush=True)
            return
        table = drift_table(committed, reproduced)
    except ResultsFileError as err:  # the run's own results are written: only the comparison is lost
        print(f"no drift table: {err}", flush=True)
        return
    if write:
        write_csv(reproduced / "drift.csv", table, profile=record["profile"], seed=record["seed"],
                  device=record["device"], committed=str(committed))
    print(f"\ndrift, {name} against this run:\n{format_drift(table)}", flush=True)


def _root_dirs(root: Path, profile: str) -> OutputDirs:
    dirs = OutputDirs(root / "figures" / profile, root / "results" / profile, root / "runs" / profile)
    for d in (dirs.figures, dirs.results, dirs.runs):
        d.mkdir(parents=True, exist_ok=True)
    return dirs


@contextlib.contextmanager
def _environment(values: dict[str, str | None]):
    """Set (or, for None, unset) environment variables for the duration; restore them after."""
    previous = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def kept_epochs(path: Path, record: dict, minutes: float | None) -> dict[str, int] | None:
    """The epochs that the run recorded in the pipeline.json at `path` was sized to, where it had
    the same budget (`minutes`) and `record`'s profile, dataset, noise, seed, device and
    notebooks to size it over (budget_notebooks): a rerun
    keeps them, so that it resumes that run. Sized again, a speed measured a little faster or
    slower gives other epochs: other run keys for the sweeps, and a checkpoint that holds more
    epochs than asked for. None without a budget or such a run (a file that is not JSON:
    carried_rows reports it)."""
    if minutes is None or not path.exists():
        return None
    try:
        earlier = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    same = all(earlier.get(k) == record.get(k)
               for k in ("profile", "dataset", "noise", "seed", "device", "budget_notebooks"))
    epochs = earlier.get("epochs")
    if not same or earlier.get("budget_minutes") != minutes or not isinstance(epochs, dict):
        return None
    return epochs if set(epochs) == set(EPOCH_FIELDS) else None


def make_plan(profile: str, runnable: list[str], dataset: str = "natural32", noise: str = "gaussian",
              device: str = "auto", minutes: float | None = None, epochs: dict[str, int] | None = None) -> Plan:
    """Measure this machine (a few seconds), then size the epochs to `minutes` if given (or keep
    `epochs`, a resumed run's: kept_epochs), and estimate each runnable notebook's time."""
    prof = PROFILES[profile]
    start = time.perf_counter()
    print(f"measuring this machine's training speed ({describe_device(resolve_device(device))}) ...", flush=True)
    images_per_s = measure_images_per_s(device, prof.precision, prof.measure_s)
    needs_bm3d = any(notebook_work(prof, dataset, noise)[n].bm3d_crops for n in runnable)
    bm3d_s = measure_bm3d_seconds() if needs_bm3d else None
    workers = config.usable_cores()  # what classical.denoise spreads BM3D over
    measured = {"images_per_s": round(images_per_s, 1), "bm3d_s": None if bm3d_s is None else round(bm3d_s, 3),
                "classical_workers": workers,
                "device": describe_device(resolve_device(device)),
                "precision": resolve_precision(prof.precision, resolve_device(device)), "batch_size": 8,
                "seconds": round(time.perf_counter() - start, 1)}
    calibration = load_calibration()
    budget_s = None if minutes is None else minutes * 60 - measured["seconds"]  # measuring counts too
    if epochs is None:
        epochs = ({f: getattr(prof, f) for f in EPOCH_FIELDS} if budget_s is None else
                  size_epochs(prof, budget_s, runnable, images_per_s, bm3d_s, calibration, dataset, noise, workers))
    work = {n: w for n, w in notebook_work(with_epochs(prof, epochs), dataset, noise).items() if n in runnable}
    estimates = {n: round(s, 1) for n, s in estimate_seconds(work, images_per_s, bm3d_s, calibration,
                                                             workers).items()}
    return Plan(epochs, work, estimates, measured, calibration.source, minutes)


def print_plan(plan: Plan, profile: str) -> None:
    m = plan.measured
    print(f"this machine trains {m['images_per_s']:,.0f} images/s ({m['device']}, {m['precision']}, batch 8)"
          + (f"; BM3D takes {m['bm3d_s']:.2f} s a crop on one core, spread over {m['classical_workers']}"
             if m.get("bm3d_s") else "")
          + f"; calibrated on {plan.calibration}", flush=True)
    prof = PROFILES[profile]
    if plan.budget_minutes is not None:
        below = {f: (e, getattr(prof, f)) for f, e in plan.epochs.items() if e < getattr(prof, f)}
        print(f"sized to {plan.budget_minutes:g} min: epochs {plan.epochs}"
              + (f"; below the {profile} profile's own: {below}" if below else ""), flush=True)
        total = sum(plan.estimates.values()) / 60
        if total > plan.budget_minutes:
            print(f"warning: the estimate is {total:.1f} min, over the {plan.budget_minutes:g} min budget even at "
                  "these epochs; it runs anyway (--minutes never goes below one epoch each)", flush=True)
    print(f"expected time (profile {profile}):\n{plan_table(plan.estimates, plan.work)}", flush=True)


def left_out(chosen: list[str], dataset: str | Path, noise: str) -> dict[str, str]:
    """The notebooks of `chosen` that cannot run on this data or noise, each with the reason the
    pipeline prints (after 'skipped, it ') and records; the others run."""
    why = {}
    for name in chosen:
        if name in NEEDS_EMBEDDED_DATA and str(dataset) not in DATASETS:
            why[name] = f"needs an embedded dataset {DATASETS}"
        elif name in NOISES_OF and noise not in NOISES_OF[name][1]:
            what, noises = NOISES_OF[name]
            why[name] = f"needs a noise {what}: {', '.join(noises)} (not {noise})"
    return why


def _execute(chosen: list[str], parameters: dict, dirs: OutputDirs, plan: Plan, record: dict,
             skipped: dict[str, str], notebooks_dir: Path = config.NOTEBOOKS_DIR) -> dict:
    """Execute `chosen` notebooks from `notebooks_dir` in order (those in `skipped` are recorded
    as skipped with their reason), with progress lines; write pipeline.json after each."""
    import papermill as pm

    executed_dir = dirs.runs / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    record = {**record, "measured": plan.measured, "calibration": plan.calibration,
              "budget_minutes": plan.budget_minutes, "epochs": plan.epochs,
              "estimated_seconds": round(sum(plan.estimates.values()), 1),
              "notebooks": carried_rows(dirs.results / "pipeline.json", record)}
    progress = Progress({n: plan.estimates.get(n, 0.0) for n in chosen})

    def add(row: dict) -> None:  # in the notebooks' order, in place of a carried row of the same notebook
        rows = [r for r in record["notebooks"] if r["notebook"] != row["notebook"]] + [row]
        record["notebooks"] = sorted(rows, key=lambda r: NOTEBOOKS.index(r["notebook"]))

    for name in chosen:
        if name in skipped:
            progress.end(name)
            print(f"{progress.line()}: skipped, it {skipped[name]}", flush=True)
            add({"notebook": name, "skipped": skipped[name]})
            continue
        progress.begin(name)
        print(f"{progress.line()} (expected {plan.estimates[name] / 60:.1f} min)", flush=True)
        try:
            with _ticking(progress):
                # "immediate": once the notebook ends, or an interrupt stops it, the kernel's process
                # group is interrupted and killed. The default ("graceful") interrupts a running cell
                # and at once asks the kernel to shut down; ipykernel closes its sockets while the
                # interrupted cell still replies, and prints a ZMQError traceback to our stderr.
                # Nothing is lost: every cell's outputs and files are complete when it replies.
                # The kernel's own log at ERROR: its one warning ("running over TCP without
                # encryption", a local kernel's loopback sockets) came on every notebook; a cell's
                # output and the kernel's errors still show.
                pm.execute_notebook(notebooks_dir / name, executed_dir / name, parameters=parameters,
                                    cwd=str(notebooks_dir), progress_bar=False, kernel_name="python3",
                                    shutdown_kernel="immediate", extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except KeyboardInterrupt as interrupt:  # Ctrl-C, make passing it on, or SIGTERM (Terminated)
            _stop_interrupted(name, record, dirs, progress, interrupt)
        except pm.PapermillExecutionError as err:
            if err.ename == "KeyboardInterrupt":  # Ctrl-C reached the kernel's cell first
                _stop_interrupted(name, record, dirs, progress, KeyboardInterrupt())
            record["failed"] = {"notebook": name, "cell": err.exec_count, "error": err.ename,
                                "message": err.evalue}
            write_json(dirs.results / "pipeline.json", record)
            raise SystemExit(f"{name} failed in cell [{err.exec_count}]: {err.ename}: {err.evalue}\n"
                             f"the executed notebook, with the traceback, is {executed_dir / name}") from None
        seconds = progress.end(name)
        work = plan.work[name]
        add({"notebook": name, "seconds": round(seconds, 1), "estimated_seconds": plan.estimates[name],
             "train_images": work.train_images, "bm3d_crops": work.bm3d_crops})
        record["seconds"] = round(time.perf_counter() - progress.start, 1)
        write_json(dirs.results / "pipeline.json", record)  # a partial record survives an interruption
    record["seconds"] = round(time.perf_counter() - progress.start, 1)
    write_json(dirs.results / "pipeline.json", record)
    print(f"done in {record['seconds'] / 60:.1f} min (estimated {record['estimated_seconds'] / 60:.1f}); "
          f"figures in {dirs.figures}, results in {dirs.results}", flush=True)
    return record


def _stop_interrupted(name: str, record: dict, dirs: OutputDirs, progress: Progress,
                      interrupt: KeyboardInterrupt) -> NoReturn:
    """Record that the run was interrupted in notebook `name`, say where and how to go on in one
    line, and exit with the status of `interrupt` (interrupt_status)."""
    record["interrupted"] = {"notebook": name}
    write_json(dirs.results / "pipeline.json", record)
    print(f"interrupted in {name} ({progress.line()}); {RESUME_HINT} (finished training and sweep rows are not "
          f"redone)", file=sys.stderr, flush=True)
    raise SystemExit(interrupt_status(interrupt))


def carried_rows(path: Path, record: dict) -> list[dict]:
    """The notebook rows of the pipeline.json at `path`, to start a run's record with: each
    marked with the run it comes from (`carried_from`) and that run's measured speed (`measured`,
    what n2n_utils.estimate.calibrate reads a row's work against). The run replaces the row of
    each notebook it executes, so a rerun of some notebooks keeps the others' rows, and one that
    fails keeps the rows it did not reach. No rows when there is no such file, or it is of another
    profile, dataset, noise or seed (a file that is not JSON is reported in one line and replaced)."""
    if not path.exists():
        return []
    try:
        earlier = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        print(f"{path}: not valid JSON ({err.msg}, line {err.lineno}); it is replaced, keeping no rows", flush=True)
        return []
    if any(earlier.get(k) != record.get(k) for k in ("profile", "dataset", "noise", "seed")):
        return []
    return [{"carried_from": {k: earlier.get(k) for k in ("git_commit", "created")},
             "measured": earlier.get("measured"), **row}  # a row carried before keeps its own origin
            for row in earlier.get("notebooks", []) if row.get("notebook") in NOTEBOOKS]


@contextlib.contextmanager
def _ticking(progress: Progress, every: float = PROGRESS_EVERY_S):
    """Print progress.line() every `every` seconds while the body runs."""
    stop = threading.Event()

    def tick():
        while not stop.wait(every):
            print(progress.line(), flush=True)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES),
                        help="the sizes (n2n_utils/profiles.py); default quick")
    parser.add_argument("--dataset", default="natural32",
                        help=f"one of {DATASETS}, or a folder holding the course's train_data.pkl and "
                        "val_data.pkl (or your own photos); default natural32")
    parser.add_argument("--noise", default="gaussian", choices=sorted(NOISE_MODELS),
                        help="at its default level; default gaussian (a notebook that cannot take it is skipped)")
    parser.add_argument("--seed", type=int, default=0, help="data and training seed; default 0")
    parser.add_argument("--device", default="auto", choices=DEVICES, help="auto (the default): cuda > mps > cpu")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="DIR",
                       help="write results/, figures/ and runs/ (each with a <profile> folder) under DIR; "
                       "default reproduced/<profile>-<commit>")
    where.add_argument("--in-place", action="store_true",
                       help="write into the repository's results/, figures/ and runs/ (the committed results)")
    parser.add_argument("--minutes", type=float, metavar="M",
                        help="size the epochs so that the whole run is expected to take M minutes")
    parser.add_argument("--notebooks", nargs="*", help=f"a subset of {NOTEBOOKS}")
    parser.add_argument("--plan", action="store_true",
                        help="measure this machine, print each notebook's expected time and the total, run nothing")
    args = parser.parse_args(argv)
    try:
        with _sigterm_interrupts():
            run_pipeline(args.profile, args.dataset, args.noise, args.seed, args.device, args.out, args.in_place,
                         args.minutes, args.notebooks, plan_only=args.plan)
    except OptionError as err:  # checked before any work
        parser.error(err.as_option())
    except KeyboardInterrupt as interrupt:  # outside a notebook (those say which): measuring, planning, drift
        print(f"interrupted; {RESUME_HINT}", file=sys.stderr, flush=True)
        return interrupt_status(interrupt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
