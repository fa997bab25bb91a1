"""How long a pipeline run takes, said before it starts, and how far along it is while it runs.

The cost model: notebook i takes

    seconds_i = startup_i + factor_i * train_images_i / images_per_s + bm3d_crops_i * bm3d_s / workers

or, for a notebook that trains nothing (notebook 07), startup_i + factor_i * its BM3D seconds:

- train_images_i: the training work the profile asks of the notebook (pairs x epochs x runs x
  seeds), counted by `notebook_work` from the profile's sizes;
- images_per_s: this machine's training speed at the report's batch 8, measured for a few
  seconds before the run by `measure_images_per_s` (the engine itself, on random pairs);
- bm3d_crops_i: the crops BM3D denoises (tuning and scoring); it runs on the CPU whatever the
  training device, at bm3d_s seconds a crop on one core (`measure_bm3d_seconds`), spread over
  `workers` processes (classical.denoise: every usable core), except in ONE_CORE_BM3D's notebooks,
  which denoise whole photos one at a time. The smallest batches of crops (under
  classical.POOL_MIN_S on one core: the smoke profile's, the quick profile's tuning) stay on one
  core too, so small profiles take a little longer than the model says;
- startup_i and factor_i: calibrated on a finished run's pipeline.json (`calibrate`), by
  default the committed quick profile's. factor_i covers what scales with training but is not
  training: validation, data loading, the sweeps' other batch sizes, test-time ensembles. In a
  notebook that trains nothing it scales its BM3D instead: whole photos take BM3D less time a
  pixel than 32x32 crops (notebook 07 took about a third of its crops' worth in the quick run).

With a time budget, `size_epochs` scales the profile's epoch counts (main run, sweeps,
comparisons) by one common factor so that the estimate fits.

What bounds the full profile on a 16-core GPU machine, by this model's numbers (0.21 s a BM3D
crop on one core, LEGACY_BM3D_S): the 5,050 crops of notebooks 05 and 06 take 1,060 s on one
core (18 min, the bound before classical.denoise used a pool) and 66 s over 16 workers; notebook
07's whole photos, about 600 crops' worth, stay on one core (about 2 min at crop speed, 0.8 min
with the quick run's calibration). Training then bounds
it: with three seeds for every network, the full profile asks for 22.4 million training images
(01: 3.0 M, 02: 3.6 M, 03: 3.15 M, 05: 8.6 M, 06: 4.05 M), 75 minutes at the issue's target
speed (an epoch of 50,000 pairs in 10 s: 5,000 images/s) if the networks train one after
another. Ten minutes need about 37,000 images/s in all, which only training many networks in
one pass (n2n_utils.many) could give; else `--minutes` scales the epochs down (at one epoch
each the profile still asks for 6.5 million images: 22 minutes at 5,000 images/s).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .blind import SWEEP_SIGMAS_255
from .classical import METHODS
from .comparisons import compared_noises
from .config import COMMITTED_RESULTS_DIR
from .generalisation import RECIPES
from .profiles import EPOCH_FIELDS, PROFILES, Profile, with_epochs

# Which epoch field sizes each notebook's training (see `size_epochs`).
EPOCHS_OF = {"01_train_resunet.ipynb": "epochs", "02_learning_rate_sweep.ipynb": "sweep_epochs",
             "03_batch_size_sweep.ipynb": "sweep_epochs", "05_comparisons.ipynb": "cmp_epochs",
             "06_generalisation.ipynb": "cmp_epochs"}
ABLATION_RUNS = 3  # comparisons.augmentation_ablation: none, dihedral, all valid
BM3D_TUNING_POINTS = len(METHODS["bm3d"].grid(0.1)["sigma"])  # BM3D's grid: sigma x 0.8, 1, 1.2
# The committed quick run (results/quick/pipeline.json, commit 84a1f99) recorded no speed of its
# own. For it: the engine's default at batch 8 on the same 2-core AVX-512/bf16 CPU, from
# the throughput benchmark's run at commit 5b84b59 (since replaced by
# throughput-cpu-avx512-bf16-full.json, 172 images/s at ff2193e), and classical.py's BM3D time.
LEGACY_IMAGES_PER_S = 175.0
LEGACY_BM3D_S = 0.21
ONE_CORE_BM3D = {"07_explore.ipynb"}  # BM3D on whole photos, one call per photo: no pool
HELD_OUT_PIXELS = 778_000  # natural32's three held-out photos at full size (blind.held_out_photos)
CHELSEA_PIXELS = 135_300  # 451 x 300
STARTUP_S = 6.0  # kernel start, imports, cached data: notebook 00 took 6.6 s in that run
CALIBRATION_RECORD = COMMITTED_RESULTS_DIR / "quick" / "pipeline.json"
PACE_AFTER_S = 60.0  # Progress rescales its estimate once notebooks expected to take this long finished


@dataclass(frozen=True)
class Work:
    train_images: int = 0  # training images seen, summed over every network the notebook trains
    bm3d_crops: int = 0    # crops BM3D denoises, tuning included


def notebook_work(profile: Profile, dataset: str = "natural32", noise: str = "gaussian") -> dict[str, Work]:
    """The work each notebook does at `profile`'s sizes, keyed by notebook file name."""
    p = profile
    cmp_run = p.cmp_n_train * p.cmp_epochs
    seen = cmp_run  # the learning curve's runs each see about as many images (equal steps)
    curve = sum(2 * n * max(1, round(seen / n)) for n in p.curve_sizes)  # noise2noise + noise2clean
    tune = min(p.cmp_n_tune, p.cmp_n_train) * BM3D_TUNING_POINTS
    try:  # what notebook 05 compares: the profile's noises and `noise`, when not among them
        compared = compared_noises(p.cmp_noises, noise)
    except ValueError:  # a noise without a headline: notebook 05 does not run (pipeline.left_out)
        compared = p.cmp_noises
    bm3d_noises = [n for n in compared if n in METHODS["bm3d"].noises]
    folds = p.cv_folds if dataset == "natural32" else 0  # cross-validation needs natural32's photos
    return {
        "00_data_exploration.ipynb": Work(),
        "01_train_resunet.ipynb": Work(p.n_seeds * p.n_train * p.epochs),
        "02_learning_rate_sweep.ipynb": Work(len(p.lr_grid) * len(p.sweep_seeds) * p.sweep_n_train * p.sweep_epochs),
        "03_batch_size_sweep.ipynb": Work(len(p.batch_grid) * len(p.sweep_seeds) * p.sweep_n_train * p.sweep_epochs),
        "04_predictions.ipynb": Work(),
        "05_comparisons.ipynb": Work(p.n_seeds * (2 * len(compared) * cmp_run + ABLATION_RUNS * cmp_run + curve),
                                     len(bm3d_noises) * (tune + p.cmp_n_val)),
        "06_generalisation.ipynb": Work(p.n_seeds * (len(RECIPES) + folds) * cmp_run,
                                        (tune + p.cmp_n_val + folds * (tune + p.cv_n_val))
                                        if noise in METHODS["bm3d"].noises else 0),
        # BM3D on whole photos, in 32x32 crops' worth: the sigma sweep (true and estimated sigma at
        # each level) on the held-out photos, and the explorer's default photo (chelsea)
        "07_explore.ipynb": Work(0, round((2 * len(SWEEP_SIGMAS_255) * HELD_OUT_PIXELS * p.sigma_sweep_scale ** 2
                                           * p.sigma_sweep_photos / 3 + CHELSEA_PIXELS * p.explore_scale ** 2) / 1024)),
    }


# --------------------------------------------------------------------------- measuring


def measure_images_per_s(device: str, precision: str, seconds: float) -> float:
    """Training images/s of the engine's default (batch 8, dihedral augmentation) on random
    32x32 pairs: the second of two epochs, the set growing 4x until that epoch takes at least
    `seconds` / 2, so that the first (warm-up) epoch is not counted. Takes about `seconds`
    (the profile's `measure_s`)."""
    from .data import DenoisingData
    from .runs import TrainConfig
    from .training import train

    n = 64
    while True:
        g = torch.Generator().manual_seed(0)
        pairs = [torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g) for _ in range(2)]
        val = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g)
        data = DenoisingData(pairs[0], pairs[1], val, val, meta={"name": "random"})
        config = TrainConfig(epochs=2, precision=precision, device=device, eval_every=2, progress=False)
        last = train(data, config).history.iloc[-1]
        if last["seconds"] >= seconds / 2 or n >= 2**20:
            return float(last["images_per_s"])
        n *= 4


def measure_bm3d_seconds(crops: int = 3) -> float | None:
    """Seconds BM3D takes per 32x32 crop on one core (the mean over `crops`, after one
    untimed crop), or None when the bm3d package is missing."""
    try:
        from .classical import denoise
        images = torch.randint(0, 256, (crops + 1, 3, 32, 32), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0))
        denoise("bm3d", images[:1], workers=1, sigma=0.1)
    except ImportError:
        return None
    start = time.perf_counter()
    denoise("bm3d", images[1:], workers=1, sigma=0.1)
    return (time.perf_counter() - start) / crops


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Calibration:
    startup_s: dict[str, float]  # notebook -> seconds that do not scale with training or BM3D
    factor: dict[str, float]     # notebook -> wall time of its training over images / images_per_s;
                                 # one that trains nothing: of its BM3D over the crops' worth
    source: str                  # where the numbers come from, for pipeline.json


DEFAULT_CALIBRATION = Calibration({}, {}, "no calibration: startup 6 s, factor 1")


def calibrate(record: dict, source: str = "") -> Calibration:
    """A calibration from a finished run's pipeline.json `record`: what each notebook took,
    less the BM3D time and a startup, against its training images at the run's measured speed.
    Records of this version carry their own work and speed; an older one (no "measured") is
    read as the committed quick run at commit 84a1f99 (see LEGACY_IMAGES_PER_S)."""
    legacy = {"images_per_s": LEGACY_IMAGES_PER_S, "bm3d_s": LEGACY_BM3D_S}
    legacy_work = notebook_work(PROFILES[record.get("profile", "quick")])
    startup, factor = {}, {}
    for row in record.get("notebooks", []):
        name, seconds = row["notebook"], row.get("seconds")
        if seconds is None:  # skipped
            continue
        # a row carried over from an earlier run (a rerun of some notebooks) has that run's speed,
        # None when that run is older than this module: then the legacy speed, not this record's
        measured = (row["measured"] if "measured" in row else record.get("measured")) or legacy
        rate, bm3d_s = measured["images_per_s"], measured.get("bm3d_s") or LEGACY_BM3D_S
        work = Work(row["train_images"], row["bm3d_crops"]) if "train_images" in row else legacy_work[name]
        bm3d = bm3d_seconds(name, work.bm3d_crops, bm3d_s, measured.get("classical_workers", 1))
        rest = seconds - bm3d
        if work.train_images:
            startup[name] = min(STARTUP_S, rest)
            factor[name] = max(rest - startup[name], 0.0) / (work.train_images / rate)
        elif work.bm3d_crops:  # BM3D is its work
            startup[name] = min(STARTUP_S, seconds)
            factor[name] = (seconds - startup[name]) / bm3d
        else:
            startup[name] = max(rest, 0.0)
    return Calibration(startup, factor, source or f"a {record.get('profile')} run at commit {record.get('git_commit')}")


def load_calibration(path: Path = CALIBRATION_RECORD) -> Calibration:
    """`calibrate` on the pipeline.json at `path`, or DEFAULT_CALIBRATION if there is none."""
    if not path.exists():
        return DEFAULT_CALIBRATION
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    rel = path.relative_to(COMMITTED_RESULTS_DIR.parent) if path.is_relative_to(COMMITTED_RESULTS_DIR.parent) else path
    return calibrate(record, f"{rel} (commit {record.get('git_commit')})")


def estimate_seconds(work: dict[str, Work], images_per_s: float, bm3d_s: float | None,
                     calibration: Calibration = DEFAULT_CALIBRATION, workers: int = 1) -> dict[str, float]:
    """Expected wall seconds per notebook (see the module docstring); `bm3d_s` is one core's
    seconds a crop, `workers` the processes BM3D is spread over."""
    bm3d_s = LEGACY_BM3D_S if bm3d_s is None else bm3d_s
    seconds = {}
    for name, w in work.items():
        start, factor = calibration.startup_s.get(name, STARTUP_S), calibration.factor.get(name, 1.0)
        bm3d = bm3d_seconds(name, w.bm3d_crops, bm3d_s, workers)
        seconds[name] = (start + factor * w.train_images / images_per_s + bm3d if w.train_images
                         else start + factor * bm3d)  # the factor scales the notebook's own work
    return seconds


def bm3d_seconds(notebook: str, crops: int, bm3d_s: float, workers: int) -> float:
    """Wall seconds of a notebook's BM3D: `crops` at `bm3d_s` a crop on one core, spread over
    `workers` processes (records made before the pool hold none: 1), or on one core in
    ONE_CORE_BM3D's notebooks."""
    return crops * bm3d_s / (1 if notebook in ONE_CORE_BM3D else workers)


def size_epochs(profile: Profile, budget_s: float, notebooks: list[str], images_per_s: float,
                bm3d_s: float | None, calibration: Calibration = DEFAULT_CALIBRATION,
                dataset: str = "natural32", noise: str = "gaussian", workers: int = 1) -> dict[str, int]:
    """Epoch counts (EPOCH_FIELDS) that fit `notebooks` into `budget_s` seconds: the profile's
    own, all scaled by one factor (up or down, rounded down, at least 1 each). When even one
    epoch each does not fit, that is what it returns: check with `estimate_seconds`."""
    def total(epochs: dict[str, int]) -> float:
        work = {n: w for n, w in notebook_work(with_epochs(profile, epochs), dataset, noise).items()
                if n in notebooks}
        return sum(estimate_seconds(work, images_per_s, bm3d_s, calibration, workers).values())

    nominal = {f: getattr(profile, f) for f in EPOCH_FIELDS}
    used = {EPOCHS_OF[n] for n in notebooks if n in EPOCHS_OF}  # the others keep the profile's

    def scaled(scale: float) -> dict[str, int]:
        return {f: max(1, math.floor(e * scale + 1e-9)) if f in used else e for f, e in nominal.items()}

    # The estimate is nearly linear in the epochs: its growth from the profile's epochs to twice
    # them is the part that scales; the rest (startup, BM3D, training of a fixed size) is fixed.
    once, twice = total(nominal), total({f: 2 * e for f, e in nominal.items()})
    training, fixed = twice - once, 2 * once - twice
    scale = (budget_s - fixed) / training if training > 0 else 1.0
    epochs = scaled(scale)
    for _ in range(20):  # nearly: some runs' epochs are rounded shares of these; step down until it fits
        over = total(epochs) / budget_s if budget_s > 0 else math.inf
        if over <= 1 or all(epochs[f] == 1 for f in used):
            break
        scale *= min(1 / over, 1 - 1e-6)
        epochs = scaled(scale)
    return epochs


# --------------------------------------------------------------------------- progress


class Progress:
    """Where a run stands: notebook k of n, minutes elapsed and left. Time left is the estimate
    of what remains, scaled by how the finished notebooks compared with their estimates."""

    def __init__(self, estimates: dict[str, float], clock=time.perf_counter):
        self.estimates = dict(estimates)  # notebook -> expected seconds, in running order
        self.clock = clock
        self.start = clock()
        self.done: dict[str, float] = {}  # notebook -> actual seconds
        self.current: str | None = None
        self.current_start = self.start

    def begin(self, name: str) -> None:
        self.current, self.current_start = name, self.clock()

    def end(self, name: str) -> float:
        """Mark `name` finished (or skipped); its actual seconds."""
        seconds = self.clock() - self.current_start if name == self.current else 0.0
        self.done[name] = seconds
        self.current = None
        return seconds

    def pace(self) -> float:
        """Actual over estimated seconds of the finished notebooks; 1 until they were expected
        to take PACE_AFTER_S (a few seconds of startup say little about training)."""
        expected = sum(self.estimates[n] for n in self.done)
        return sum(self.done.values()) / expected if expected >= PACE_AFTER_S else 1.0

    def seconds_left(self) -> float:
        """The estimates still ahead, times the pace; a notebook running over its rescaled
        estimate counts toward the pace as if it ended now."""
        pace, current = self.pace(), 0.0
        if self.current is not None:
            elapsed, expected = self.clock() - self.current_start, self.estimates[self.current]
            done_expected = sum(self.estimates[n] for n in self.done)
            if elapsed > pace * expected and done_expected + expected >= PACE_AFTER_S:
                pace = (sum(self.done.values()) + elapsed) / (done_expected + expected)
            current = max(pace * expected - elapsed, 0.0)
        later = [n for n in self.estimates if n not in self.done and n != self.current]
        return current + pace * sum(self.estimates[n] for n in later)

    def line(self) -> str:
        """E.g. 'notebook 3 of 7 (02_learning_rate_sweep): 9.5 min elapsed, about 21.0 min left'."""
        names = list(self.estimates)
        name = self.current or (names[len(self.done) - 1] if self.done else names[0])
        return (f"notebook {names.index(name) + 1} of {len(names)} ({Path(name).stem}): "
                f"{(self.clock() - self.start) / 60:.1f} min elapsed, about {self.seconds_left() / 60:.1f} min left")


def plan_table(estimates: dict[str, float], work: dict[str, Work]) -> str:
    """The expected time of each notebook and of the whole run, as printed before it starts."""
    lines = [f"  {Path(n).stem:<28} {s / 60:6.1f} min   ({work[n].train_images:,} training images"
             + (f", {work[n].bm3d_crops:,} BM3D crops" if work[n].bm3d_crops else "") + ")"
             for n, s in estimates.items()]
    return "\n".join([*lines, f"  {'total':<28} {sum(estimates.values()) / 60:6.1f} min"])
