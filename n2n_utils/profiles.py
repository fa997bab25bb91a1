"""Profiles: how big a run is, in one place. Every notebook takes a profile name.

- smoke: every code path of the pipeline at the smallest sizes (CI, nbval);
- quick: the README's default, the whole pipeline in about 30 minutes on 2 CPU cores with
         AVX-512 and native bf16 (about 80 on 2 AVX2 cores, which compute in fp32: README);
- full:  the report's scale (every network on 50,000 pairs; 20 epochs for the main run, 3 for
         every other), meant for a GPU.

The environment variable N2N_PROFILE, when set, overrides the profile a notebook asks for, so
nbval can run every notebook in `smoke` without editing it. N2N_EPOCHS, a JSON object such as
'{"epochs": 25, "sweep_epochs": 4, "cmp_epochs": 4}', overrides a profile's epoch counts: the
pipeline sets it when `--minutes` sizes a run to a time budget (see n2n_utils.estimate).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import config
from .config import describe_device, resolve_device


@dataclass(frozen=True)
class Profile:
    name: str
    n_train: int                  # training pairs of the main run (notebook 01)
    n_val: int                    # validation crops, from photos never used in training
    epochs: int                   # epochs of the main run
    precision: str                # autocast used for training (evaluation is always fp32)
    sweep_n_train: int            # training pairs of each sweep run
    sweep_epochs: int             # epochs of each sweep run
    sweep_seeds: tuple[int, ...]  # each sweep point is the mean over these seeds, with a 95% CI
    sweep_n_val: int = 1_000      # validation crops each sweep run is scored on
    # notebooks 01, 05 and 06 train each network with n_seeds seeds (the notebook's seed and the
    # next ones: initialisation and data order; the data stay the notebook's), and report the
    # mean with a 95% CI across seeds (n2n_utils.seeds)
    n_seeds: int = 1
    lr_grid: tuple[float, ...] = (1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3)
    batch_grid: tuple[int, ...] = (4, 8, 16, 32, 64, 128)
    n_examples: int = 6           # images shown in the prediction figures
    # notebook 05, the comparisons: every method is scored on the same cmp_n_val crops
    cmp_n_train: int = 2_000      # training pairs of each ResUNet (N2N and N2C get the same budget)
    cmp_epochs: int = 3
    cmp_n_val: int = 200          # BM3D costs ~0.2 s per 32x32 crop on a CPU core
    cmp_n_tune: int = 50          # training crops the classical methods are tuned on
    cmp_noises: tuple[str, ...] = ("gaussian", "poisson", "impulse", "text")
    curve_sizes: tuple[int, ...] = (500, 2_000, 6_000)  # learning curve: pairs, at cmp_n_train x cmp_epochs images
    # notebook 06: leave-photos-out cross-validation, each fold trained like the comparisons
    cv_folds: int = 4             # fold 0 is the default split; every photo is held out once
    cv_n_val: int = 1_000         # held-out crops per fold
    # notebook 07: the explorer's photos are shown at this scale (BM3D runs on the whole image),
    # and the blind weights' PSNR-against-sigma sweep uses this many held-out photos at this scale
    explore_scale: float = 0.5
    sigma_sweep_photos: int = 3
    sigma_sweep_scale: float = 0.25
    # the pipeline measures this machine's training speed for about this long (seconds) before
    # it plans a run; smoke, at CI size, takes a rough estimate
    measure_s: float = 4.0
    # the target this budget is judged by (issue 8): the Noise2Noise ResUNet's mean PSNR on
    # gaussian noise at least this many dB above BM3D's (0: at or above), in notebook 05's
    # comparisons and notebook 06's held-out photos alike
    target_over_bm3d_db: float = 0.0


PROFILES = {
    # The least that runs every code path of every notebook (nbval): two values a sweep, two
    # seeds for a CI, two noises (mse and l1), two folds, one epoch; each network sees a few
    # batches (8 in the main run; a sweep run 4 at batch 8, one at 32). The sweeps and the
    # comparisons share one dataset (32 pairs, 12 validation crops: a few per held-out photo;
    # the classical methods tuned on one crop: BM3D, 0.2 s a crop, is most of notebooks 05-06),
    # generated once in a fresh clone. The eight notebooks take about a third of make test's time.
    # explore_scale stays 0.25: the explorer's scale menu offers 1, 1/2 and 1/4.
    "smoke": Profile("smoke", n_train=64, n_val=16, epochs=1, precision="auto",
                     sweep_n_train=32, sweep_epochs=1, sweep_seeds=(0, 1), sweep_n_val=12,
                     lr_grid=(8e-4, 3.2e-3), batch_grid=(8, 32), n_examples=3,
                     cmp_n_train=32, cmp_epochs=1, cmp_n_val=12, cmp_n_tune=1,
                     cmp_noises=("gaussian", "impulse"), curve_sizes=(16, 32), cv_folds=2, cv_n_val=12,
                     explore_scale=0.25, sigma_sweep_photos=1, sigma_sweep_scale=0.125, measure_s=0.5),
    # sized so that the seven notebooks 00-06 take under 30 minutes on 2 AVX-512 bf16 cores (28.9 in
    # results/quick/pipeline.json; 82 on 2 AVX2 cores)
    "quick": Profile("quick", n_train=8_000, n_val=1_000, epochs=4, precision="auto",
                     sweep_n_train=1_200, sweep_epochs=3, sweep_seeds=(0, 1, 2), sweep_n_val=300,
                     cmp_n_train=1_500, cmp_epochs=3, cmp_n_val=100, cmp_n_tune=20,
                     curve_sizes=(500, 4_500), cv_n_val=60),
    # The report's scale: every network trains on 50,000 pairs with three seeds; the main run 20
    # epochs, every sweep, comparison and fold run 3 (the least issue 14 asks for; `--minutes`
    # may raise them). BM3D runs on the CPU whatever the device (0.2 s a crop on one core of the
    # AVX-512 CPU): tuned on 50 crops, it scores 1,000 crops per noise and 250 per fold, 5,050
    # crops in all, about 18 minutes on one core, spread over every core (classical.denoise).
    "full": Profile("full", n_train=50_000, n_val=1_000, epochs=20, precision="auto",
                    sweep_n_train=50_000, sweep_epochs=3, sweep_seeds=(0, 1, 2), n_seeds=3,
                    lr_grid=(5e-5, 1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3, 6.4e-3),
                    batch_grid=(4, 8, 16, 32, 64, 128, 256),
                    cmp_n_train=50_000, cmp_epochs=3, cmp_n_val=1_000, cmp_n_tune=50,
                    curve_sizes=(1_000, 5_000, 20_000, 50_000), cv_n_val=250, target_over_bm3d_db=0.5),
}


EPOCH_FIELDS = ("epochs", "sweep_epochs", "cmp_epochs")  # what N2N_EPOCHS may change


def get_profile(name: str = "quick") -> Profile:
    """The profile called `name`, unless N2N_PROFILE names another, with the epoch counts that
    N2N_EPOCHS gives, if any. Unknown names, keys and non-positive epochs are errors."""
    name = os.environ.get("N2N_PROFILE") or name
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}")
    return with_epochs(PROFILES[name], parse_epochs(os.environ.get("N2N_EPOCHS", "")))


def parse_epochs(text: str) -> dict[str, int]:
    """N2N_EPOCHS's JSON object ('' for none) as {field: epochs}, checked."""
    if not text.strip():
        return {}
    try:
        epochs = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"N2N_EPOCHS={text!r} is not JSON ({err.msg})") from None
    if not isinstance(epochs, dict):
        raise ValueError(f"N2N_EPOCHS={text!r}: expected an object like {{\"epochs\": 20}}")
    unknown = set(epochs) - set(EPOCH_FIELDS)
    if unknown:
        raise ValueError(f"N2N_EPOCHS: unknown key(s) {sorted(unknown)}; choose from {list(EPOCH_FIELDS)}")
    bad = {k: v for k, v in epochs.items() if type(v) is not int or v < 1}
    if bad:
        raise ValueError(f"N2N_EPOCHS: epochs must be whole numbers >= 1, got {bad}")
    return epochs


def with_epochs(profile: Profile, epochs: dict[str, int]) -> Profile:
    """`profile` with some of its EPOCH_FIELDS replaced; the name stays."""
    return dataclasses.replace(profile, **epochs) if epochs else profile


@dataclass(frozen=True)
class OutputDirs:
    figures: Path
    results: Path
    runs: Path  # checkpoints: large, not committed


def output_dirs(profile: str, output_dir: str | Path = "") -> OutputDirs:
    """Where a profile's outputs go: figures/<profile>, results/<profile>, runs/<profile>,
    or sub-folders of `output_dir` when one is given. The folders are created."""
    if output_dir:
        base = Path(output_dir)
        dirs = OutputDirs(base / "figures", base / "results", base / "runs")
    else:
        dirs = OutputDirs(config.FIGURES_DIR / profile, config.RESULTS_DIR / profile,
                          config.RUNS_DIR / profile)
    for d in (dirs.figures, dirs.results, dirs.runs):
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def run_record(profile: Profile, seed: int, device: str) -> dict:
    """What every results file of a notebook records about its run: profile, seed and the
    device that actually ran it (files.provenance adds commit, time and versions)."""
    return {"profile": profile.name, "seed": seed, "device": describe_device(resolve_device(device))}
