"""What the generated sources share: multi-scale 32x32 crops of photos, their noisy pairs, and
the on-disk cache of finished datasets.

natural32 (photos shipped with scikit-image and scikit-learn) and a folder of one's own photos
(n2n_utils.data.folders) cut their crops the same way: each photo is downscaled to every scale
in SCALES, so that a crop holds whole objects, and a crop is a random 32x32 window of a random
scale (CROP; natural32 also cuts larger ones, e.g. 64x64, to train on more context). Images here
are uint8, (H, W, 3) for photos and (N, 3, crop, crop) for crops, values 0-255.

The cache folder is config.CACHE_DIR, read when a file is looked up (tests point it elsewhere).
A cache file's name is a digest of the dataset's description, so a dataset described otherwise
is a new file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from skimage.transform import rescale

from .. import config
from ..files import save_torch
from ..noise import NoiseFn
from .dataset import TENSORS, DenoisingData

CROP = 32  # the side of a crop (pixels), unless a dataset asks for another
# Photos are downscaled so that a crop holds whole objects: 7 scales from 1/2 to 1/8, evenly
# spaced in log scale (np.geomspace(1/2, 1/8, 7)). Written out because datasets' meta, and so
# run keys, hold them: computed, their last bits changed with the numpy version.
SCALES = np.array([0.5, 0.3968502629920499, 0.31498026247371824, 0.25000000000000006,
                   0.19842513149602495, 0.1574901312368592, 0.125])
# How the generated sources make their data, as a digest of small samples of each (tensors
# and meta; see n2n_utils.data.generation_fingerprint). It is part of every cache key, so data
# generated otherwise never come back from an older cache file, and of every generated dataset's
# meta, so that a run on them is another run (runs.data_identity). tests/test_data.py recomputes
# it: after any change to how data are generated, it fails until this line is updated.
GENERATION = "48a25fc102cd"

T = TypeVar("T")


# --------------------------------------------------------------------------- crops


def pyramid(views: list[np.ndarray], crop: int = CROP) -> list[np.ndarray]:
    """Each view of a photo at every scale in SCALES, antialiased, as uint8 (H, W, 3), none
    smaller than one `crop` x `crop` crop: a scale that would be is raised to the smallest that
    is not, so for large crops a small photo's lowest levels are the same image (at crop 64,
    3 of chelsea's 7; a random crop then draws that size more often). A view is uint8 (H, W, 3),
    at least `crop` pixels on each side (a stereo pair has two views)."""
    levels = []
    for view in views:
        for s in SCALES:
            s = max(s, crop / min(view.shape[:2]))  # never smaller than one crop
            small = rescale(view, s, anti_aliasing=True, channel_axis=-1, preserve_range=True)
            levels.append(np.round(small).clip(0, 255).astype(np.uint8))
    return levels


def random_crop(levels: list[np.ndarray], rng: np.random.Generator, crop: int = CROP) -> np.ndarray:
    """A `crop` x `crop` crop, uint8 (crop, crop, 3), at a random place of a random level of a
    pyramid (made for that crop size or a larger one)."""
    level = levels[rng.integers(0, len(levels))]
    y = rng.integers(0, level.shape[0] - crop + 1)
    x = rng.integers(0, level.shape[1] - crop + 1)
    return level[y:y + crop, x:x + crop]


def check_sizes(n_train: int | None, n_val: int | None) -> None:
    """Refuse, by name, a number of training pairs or validation crops that is not a whole
    number from 0 (numpy would say 'negative dimensions are not allowed'); None (all of a
    course folder's) passes."""
    for name, n, what in (("n_train", n_train, "pairs"), ("n_val", n_val, "images")):
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
            raise ValueError(f"{name}={n}: a number of {what} from 0")


def noisy_crops(train_clean: np.ndarray, val_clean: np.ndarray, noise_fn: NoiseFn, seed: int, *,
                train_groups: list[str], val_groups: list[str], meta: dict) -> DenoisingData:
    """A dataset of crops cut at SCALES, uint8 (N, 3, crop, crop): two noisy draws of each
    training crop and one of each validation crop, besides the clean crops; `*_groups` name each
    crop's source (a photo, a file), and `meta` gets the scales and `generation()`. Validation
    noise has a generator of its own, so the validation set does not change with the number of
    training pairs."""
    train_generator = torch.Generator().manual_seed(2 * seed)
    val_generator = torch.Generator().manual_seed(2 * seed + 1)
    train_clean, val_clean = torch.from_numpy(train_clean), torch.from_numpy(val_clean)
    return DenoisingData(
        train_input=noise_fn(train_clean, train_generator), train_target=noise_fn(train_clean, train_generator),
        train_clean=train_clean, val_input=noise_fn(val_clean, val_generator), val_clean=val_clean,
        train_groups=train_groups, val_groups=val_groups,
        meta={**meta, "scales": [float(s) for s in SCALES], **generation()},
    )


# --------------------------------------------------------------------------- the cache


def cache_path(stem: str, spec: dict) -> Path:
    """The cache file of the data that `spec` (plain JSON values) describes: `stem` for people
    to read, then a digest of `spec` and of GENERATION, how the code generates data."""
    blob = json.dumps({**spec, "generation": GENERATION}, sort_keys=True)
    digest = hashlib.sha1(blob.encode()).hexdigest()[:10]
    return config.CACHE_DIR / f"{stem}-{digest}.pt"


def generation() -> dict[str, str]:
    """The meta entry of data that this code generates (natural32, dead leaves, a folder of photos):
    GENERATION, how it made them. A run's identity holds the meta (runs.data_identity), so that
    after a change to how data are made, a checkpoint or sweep row of the data made before is
    another run's, not resumed or reused. (Course files are read, not made: they have a digest.)"""
    return {"generation": GENERATION}


def save_cached(data: DenoisingData, path: Path) -> None:
    """Write a dataset to the cache, atomically."""
    blob = {k: getattr(data, k) for k in TENSORS}
    save_torch({**blob, "val_groups": data.val_groups, "train_groups": data.train_groups,
                "meta": json.dumps(data.meta)}, path)


def load_cached(path: Path) -> DenoisingData:
    """A dataset written by `save_cached` (tensors and plain values only: weights_only=True)."""
    blob = torch.load(path, weights_only=True)
    meta = json.loads(blob.pop("meta"))
    return DenoisingData(**blob, meta={**meta, **generation()})  # a file of the key's generation, stamped or not


def cached(stem: str, spec: dict, make: Callable[[], T], cache: bool = True,
           save: Callable[[T, Path], object] = save_cached, load: Callable[[Path], T] = load_cached) -> T:
    """What `spec` describes, from its cache file (`cache_path(stem, spec)`) when `cache` is
    set and the file exists; else `make()`, written there when `cache` is set. `save` and
    `load` write and read the file (by default a dataset: save_cached, load_cached)."""
    path = cache_path(stem, spec)
    if cache and path.exists():
        return load(path)
    made = make()
    if cache:
        save(made, path)
    return made
