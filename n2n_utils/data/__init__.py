"""Datasets: the embedded `natural32` set, synthetic dead leaves, a folder of your own photos,
and the EE-559 course's own files.

Everything here is uint8 in the course's layout, (N, 3, 32, 32), values 0-255. Conversion to
float in 0-1 happens once, on the device, inside training and evaluation.

`load_dataset(source, ...)` is the one entry point. `source` is one of
- "natural32": multi-scale crops of the colour photos that ship with scikit-image and
  scikit-learn, split by photo (natural32.py); `mix_deadleaves=f` replaces a fraction f of its
  training pairs with dead leaves (mix.py, deadleaves.py), validation unchanged;
- "deadleaves32": natural32 with every training pair replaced by dead leaves: training sees no
  photo at all, validation is natural32's held-out photos, bit for bit;
- a folder holding the course's `train_data.pkl` and `val_data.pkl` (course.py);
- any other folder of PNG, JPEG or TIFF images: cropped like natural32, split by file
  (folders.py).

The modules: dataset (the DenoisingData type and DataFileError), crops (crops, noisy pairs and
the on-disk cache that the generated sources share), natural32, deadleaves (the renderer), mix
(dead leaves in a dataset), folders, course.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import OptionError
from ..noise import NOISE_MODELS
from .course import COURSE_FILES, is_course_folder, load_course_folder, load_pair_file
from .crops import CROP, GENERATION, SCALES
from .dataset import TENSORS, DataFileError, DenoisingData, summarize_data
from .folders import IMAGE_SUFFIXES, image_files, load_image_folder
from .mix import check_fraction, load_deadleaves, mix_in_deadleaves
from .natural32 import PHOTOS, SPLITS, check_crop, load_natural32, make_natural32, photo_folds, random_crops

DATASETS = ("natural32", "deadleaves32")
N_TRAIN, N_VAL = 50_000, 1_000  # the full sizes of the generated sources


def check_source_options(source: str | Path, crop: int = CROP, mix_deadleaves: float = 0.0) -> None:
    """Refuse a crop side or a share of dead leaves that `source` cannot give (OptionError
    naming it), before anything is read or made: `load_dataset`'s first check, and the CLI's
    (a bad option exits with status 2)."""
    check_fraction(mix_deadleaves)
    if str(source) == "natural32":
        check_crop(crop, mix_deadleaves)
    elif crop != CROP:
        raise OptionError("crop", crop, f"only natural32 cuts crops of another size; {source} keeps its own")
    if str(source) == "deadleaves32" and mix_deadleaves not in (0, 1):
        raise OptionError("mix_deadleaves", mix_deadleaves, "deadleaves32 trains on dead leaves only; for a mix, "
                          "use natural32")


def load_dataset(source: str | Path = "natural32", noise: str = "gaussian",
                 n_train: int | None = None, n_val: int | None = None, seed: int = 0,
                 cache: bool = True, mix_deadleaves: float = 0.0, holdout: tuple[str, ...] | None = None,
                 crop: int = CROP, **params: float) -> DenoisingData:
    """The one way to get data. `source` is an embedded dataset's name (DATASETS), a folder
    holding the course's files, or a folder of images (see the module docstring). `noise` and
    its `params` (e.g. sigma=25/255) apply to all but course files, which carry their own
    noise. `n_train`/`n_val` default to the full sizes (50,000 and 1,000; all for course files).
    `mix_deadleaves` (0-1) is the fraction of training pairs replaced by dead leaves.
    `holdout` (natural32 only) names the photos to validate on, e.g. one of `photo_folds(k)`.
    `crop` (natural32 only): the crops' side, 32 (CROP) to 128 pixels, a multiple of 32."""
    n_full = N_TRAIN if n_train is None else n_train
    n_val_full = N_VAL if n_val is None else n_val
    if holdout is not None and str(source) != "natural32":
        raise ValueError(f"holdout chooses natural32's validation photos; {source} has its own split")
    check_source_options(source, crop, mix_deadleaves)
    if str(source) == "natural32":
        return load_natural32(noise, n_full, n_val_full, seed, cache, mix_deadleaves=mix_deadleaves,
                              holdout=holdout, crop=crop, **params)
    if str(source) == "deadleaves32":
        return load_natural32(noise, n_full, n_val_full, seed, cache, mix_deadleaves=1.0, **params)
    folder = Path(source)
    if folder.is_dir():
        course = is_course_folder(folder)
        if not course and image_files(folder):
            return load_image_folder(folder, noise, n_full, n_val_full, seed,
                                     mix_deadleaves=mix_deadleaves, cache=cache, **params)
        if not course:
            raise DataFileError(f"{folder}: neither a course data folder (missing "
                                f"{', '.join(COURSE_FILES.values())}) nor a folder of images "
                                f"(no {', '.join(IMAGE_SUFFIXES)} files)")
        if mix_deadleaves:
            raise ValueError(f"{folder}: course data carry their own, unknown noise, so dead "
                             f"leaves cannot be given the same; mix_deadleaves needs another source")
        if params:
            raise ValueError(f"{folder}: course data carry their own, unknown noise: no level to set "
                             f"({', '.join(sorted(params))})")
        return load_course_folder(folder, n_train, n_val)
    raise DataFileError(f"{source}: neither an embedded dataset {list(DATASETS)} nor an existing "
                        f"folder (of course files {', '.join(COURSE_FILES.values())}, or of images)")


def generation_fingerprint() -> str:
    """A digest of small samples of every generated source, tensors and meta: natural32 with
    each noise, with a held-out photo and mixed with dead leaves, on 64x64 crops, and a folder
    of images.
    It changes whenever the code generates other data; crops.GENERATION must equal it."""
    digest = hashlib.sha1()

    def add(data: DenoisingData, leave_out: tuple[str, ...] = ()) -> None:
        for name in TENSORS:
            digest.update(getattr(data, name).numpy().tobytes())
        meta = {k: v for k, v in data.meta.items() if k not in (*leave_out, "generation")}  # this digest's own
        digest.update(json.dumps([meta, data.train_groups, data.val_groups], sort_keys=True).encode())

    for noise in sorted(NOISE_MODELS):
        add(make_natural32(noise, n_train=3, n_val=2, seed=1))
    add(make_natural32(n_train=4, n_val=2, seed=2, holdout=("rocket",), mix_deadleaves=0.5))
    add(make_natural32(n_train=2, n_val=1, seed=4, crop=64))  # larger crops are cut their own way
    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        for i, size in enumerate([(40, 64), (96, 48), (33, 33)]):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(f"{folder}/{i}.png")
        add(load_image_folder(folder, n_train=3, n_val=2, seed=3, cache=False), leave_out=("folder",))
    return digest.hexdigest()[:12]


__all__ = [
    "COURSE_FILES", "CROP", "DATASETS", "GENERATION", "IMAGE_SUFFIXES", "PHOTOS", "SCALES", "SPLITS", "TENSORS",
    "DataFileError", "DenoisingData", "generation_fingerprint", "image_files", "is_course_folder", "load_course_folder",
    "check_source_options", "load_dataset",
    "load_deadleaves", "load_image_folder", "load_natural32", "load_pair_file", "make_natural32",
    "mix_in_deadleaves", "photo_folds", "random_crops", "summarize_data",
]
