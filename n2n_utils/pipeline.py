"""Run the whole study headlessly: every notebook in order, with papermill.

    python -m n2n_utils.pipeline --profile quick [--dataset natural32|FOLDER] [--device auto]

Executed copies go to runs/<profile>/notebooks/, figures to figures/<profile>/, results to
results/<profile>/ (with provenance), plus results/<profile>/pipeline.json with each
notebook's duration. A failing notebook stops the pipeline with its failing cell and error;
what was written before stays. Training runs and sweeps resume where they stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .config import NOTEBOOKS_DIR, describe_device, resolve_device
from .data import DATASETS
from .files import provenance, write_json
from .noise import NOISE_MODELS
from .profiles import PROFILES, output_dirs

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


def run_pipeline(profile: str = "quick", dataset: str = "natural32", noise: str = "gaussian",
                 seed: int = 0, device: str = "auto", output_dir: str = "",
                 notebooks: list[str] | None = None) -> dict:
    """Execute the notebooks in order; return (and write) the pipeline's record."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PROFILES)}")
    chosen = notebooks or NOTEBOOKS
    unknown = [n for n in chosen if n not in NOTEBOOKS]
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; choose from {NOTEBOOKS}")
    dirs = output_dirs(profile, output_dir)
    # The kernels inherit this: a stray N2N_PROFILE in the shell must not override --profile.
    previous = os.environ.get("N2N_PROFILE")
    os.environ["N2N_PROFILE"] = profile
    try:
        return _execute(chosen, profile, dataset, noise, seed, device, output_dir, dirs)
    finally:
        if previous is None:
            os.environ.pop("N2N_PROFILE", None)
        else:
            os.environ["N2N_PROFILE"] = previous


def _execute(chosen: list[str], profile: str, dataset: str, noise: str, seed: int, device: str,
             output_dir: str, dirs) -> dict:
    import papermill as pm

    executed_dir = dirs.runs / "notebooks"
    executed_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"profile": profile, "dataset": str(dataset), "noise": noise, "seed": seed,
                  "device": device, "output_dir": str(output_dir)}
    record = provenance(profile=profile, device=describe_device(resolve_device(device)),
                        seed=seed, dataset=str(dataset), noise=noise, notebooks=[])
    start = time.perf_counter()
    for i, name in enumerate(chosen, 1):
        if name in NEEDS_EMBEDDED_DATA and str(dataset) not in DATASETS:
            print(f"[{i}/{len(chosen)}] {name}: skipped, it needs an embedded dataset {DATASETS}", flush=True)
            record["notebooks"].append({"notebook": name, "skipped": "needs an embedded dataset"})
            continue
        print(f"[{i}/{len(chosen)}] {name} (profile {profile})", flush=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(NOTEBOOKS_DIR / name, executed_dir / name, parameters=parameters,
                                cwd=str(NOTEBOOKS_DIR), progress_bar=True, kernel_name="python3")
        except pm.PapermillExecutionError as err:
            record["failed"] = {"notebook": name, "cell": err.exec_count, "error": err.ename,
                                "message": err.evalue}
            write_json(dirs.results / "pipeline.json", record)
            raise SystemExit(f"{name} failed in cell [{err.exec_count}]: {err.ename}: {err.evalue}\n"
                             f"the executed notebook, with the traceback, is {executed_dir / name}") from None
        record["notebooks"].append({"notebook": name, "seconds": round(time.perf_counter() - t0, 1)})
    record["seconds"] = round(time.perf_counter() - start, 1)
    write_json(dirs.results / "pipeline.json", record)
    print(f"done in {record['seconds'] / 60:.1f} min; figures in {dirs.figures}, "
          f"results in {dirs.results}", flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    parser.add_argument("--dataset", default="natural32",
                        help=f"one of {DATASETS}, or a folder holding the course's train_data.pkl and "
                        "val_data.pkl (or your own photos)")
    parser.add_argument("--noise", default="gaussian", choices=sorted(NOISE_MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps")
    parser.add_argument("--output-dir", default="",
                        help="write figures/results/runs under this folder instead of the repository's")
    parser.add_argument("--notebooks", nargs="*", help=f"a subset of {NOTEBOOKS}")
    args = parser.parse_args(argv)
    if args.dataset not in DATASETS and not Path(args.dataset).is_dir():
        parser.error(f"--dataset {args.dataset}: neither one of {DATASETS} nor an existing folder")
    run_pipeline(args.profile, args.dataset, args.noise, args.seed, args.device, args.output_dir,
                 args.notebooks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
