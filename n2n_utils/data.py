"""Datasets: the embedded `natural32` set and the EE-559 course's own files.

Everything here is uint8 in the course's layout, (N, 3, 32, 32), values 0-255. Conversion to
float in 0-1 happens once, on the device, inside training and evaluation.

`load_dataset(source, ...)` is the one entry point: `source` is "natural32" or a folder that
holds the course's `train_data.pkl` and `val_data.pkl`.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skimage.transform import rescale

from .config import CACHE_DIR
from .files import save_torch
from .noise import get_noise, noise_params

# --------------------------------------------------------------------------- source photos


def _skimage(name: str):
    def load() -> list[np.ndarray]:
        import skimage.data

        image = getattr(skimage.data, name)()
        return [im for im in image[:2]] if name == "stereo_motorcycle" else [image]

    return load


def _sklearn(filename: str):
    def load() -> list[np.ndarray]:
        from sklearn.datasets import load_sample_image

        return [load_sample_image(filename)]

    return load


# Every colour photograph that ships inside scikit-image and scikit-learn (no download).
# The stereo motorcycle pair is one photo with two views. Synthetic graphics (colorwheel,
# logo) are left out: they are not photos.
PHOTOS = {
    "astronaut": _skimage("astronaut"),
    "coffee": _skimage("coffee"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "retina": _skimage("retina"),
    "rocket": _skimage("rocket"),
    "china": _sklearn("china.jpg"),
    "chelsea": _skimage("chelsea"),
    "motorcycle": _skimage("stereo_motorcycle"),
    "flower": _sklearn("flower.jpg"),
}

# The split is by photo: validation photos are never cropped for training.
SPLITS = {
    "train": ["astronaut", "coffee", "hubble_deep_field", "immunohistochemistry", "retina",
              "rocket", "china"],
    "val": ["chelsea", "motorcycle", "flower"],
}

CROP = 32
SCALES = np.geomspace(1 / 2, 1 / 8, 7)  # photos are downscaled so a crop holds whole objects


def _pyramid(photo: str) -> list[np.ndarray]:
    """Each view of a photo at every scale in SCALES, antialiased, as uint8 (H, W, 3)."""
    levels = []
    for view in PHOTOS[photo]():
        for s in SCALES:
            s = max(s, CROP / min(view.shape[:2]))  # never smaller than one crop
            small = rescale(view, s, anti_aliasing=True, channel_axis=-1, preserve_range=True)
            levels.append(np.round(small).clip(0, 255).astype(np.uint8))
    return levels


def random_crops(photos: list[str], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` random 32x32 crops, photo and scale drawn uniformly, as uint8 (n, 3, 32, 32), plus
    the index into `photos` of each crop's source."""
    pyramids = [_pyramid(p) for p in photos]
    which = rng.integers(0, len(photos), size=n)
    crops = np.empty((n, CROP, CROP, 3), dtype=np.uint8)
    for i, p in enumerate(which):
        level = pyramids[p][rng.integers(0, len(pyramids[p]))]
        y = rng.integers(0, level.shape[0] - CROP + 1)
        x = rng.integers(0, level.shape[1] - CROP + 1)
        crops[i] = level[y:y + CROP, x:x + CROP]
    return crops.transpose(0, 3, 1, 2).copy(), which


# --------------------------------------------------------------------------- the dataset


@dataclass
class DenoisingData:
    """Paired uint8 images (N, 3, H, W), values 0-255.

    train_input / train_target: two independent noisy draws of the same crops (Noise2Noise).
    train_clean: the clean crops where known (natural32), for Noise2Clean; None for course data.
    val_input / val_clean: noisy validation images and their ground truth.
    val_groups: the source photo of each validation image, for per-photo scores, or None.
    """

    train_input: torch.Tensor
    train_target: torch.Tensor
    val_input: torch.Tensor
    val_clean: torch.Tensor
    train_clean: torch.Tensor | None = None
    val_groups: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"DenoisingData({self.meta.get('name')!r}, noise={self.meta.get('noise')!r}, "
                f"train={len(self.train_input)}, val={len(self.val_input)})")


def _cache_key(**spec) -> str:
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"{spec['name']}-{spec['noise']}-n{spec['n_train']}-v{spec['n_val']}-s{spec['seed']}-{digest}"


def make_natural32(noise: str = "gaussian", n_train: int = 50_000, n_val: int = 1_000,
                   seed: int = 0, **params: float) -> DenoisingData:
    """Build natural32 from scratch (see module docstring); deterministic from `seed`."""
    full = noise_params(noise, **params)
    noise_fn = get_noise(noise, **full)
    rng = np.random.default_rng(seed)
    train_clean, _ = random_crops(SPLITS["train"], n_train, rng)
    val_clean, val_which = random_crops(SPLITS["val"], n_val, rng)
    generator = torch.Generator().manual_seed(seed)
    train_clean = torch.from_numpy(train_clean)
    val_clean = torch.from_numpy(val_clean)
    return DenoisingData(
        train_input=noise_fn(train_clean, generator),
        train_target=noise_fn(train_clean, generator),
        train_clean=train_clean,
        val_input=noise_fn(val_clean, generator),
        val_clean=val_clean,
        val_groups=[SPLITS["val"][i] for i in val_which],
        meta={"name": "natural32", "noise": noise, "noise_params": full, "seed": seed,
              "n_train": n_train, "n_val": n_val, "train_photos": SPLITS["train"],
              "val_photos": SPLITS["val"], "scales": [float(s) for s in SCALES]},
    )


def load_natural32(noise: str = "gaussian", n_train: int = 50_000, n_val: int = 1_000,
                   seed: int = 0, cache: bool = True, **params: float) -> DenoisingData:
    """natural32, from the on-disk cache when it was built before with the same settings."""
    spec = {"name": "natural32", "noise": noise, "params": noise_params(noise, **params),
            "n_train": n_train, "n_val": n_val, "seed": seed, "version": 1}
    path = CACHE_DIR / f"{_cache_key(**spec)}.pt"
    if cache and path.exists():
        blob = torch.load(path, weights_only=True)
        meta = json.loads(blob.pop("meta"))
        groups = blob.pop("val_groups")
        return DenoisingData(**blob, val_groups=groups, meta=meta)
    data = make_natural32(noise, n_train, n_val, seed, **params)
    if cache:
        blob = {k: getattr(data, k) for k in
                ("train_input", "train_target", "train_clean", "val_input", "val_clean")}
        save_torch({**blob, "val_groups": data.val_groups, "meta": json.dumps(data.meta)}, path)
    return data


# --------------------------------------------------------------------------- course files

COURSE_FILES = {"train": "train_data.pkl", "val": "val_data.pkl"}


class DataFileError(ValueError):
    """A data file is missing, unsafe, or not in the expected format. Names the file."""


def _check_images(t: object, path: Path, what: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise DataFileError(f"{path}: {what} should be a torch.Tensor, found {type(t).__name__}")
    if t.dtype != torch.uint8:
        raise DataFileError(f"{path}: {what} should have dtype uint8 (values 0-255), found {t.dtype}")
    if t.ndim != 4:
        raise DataFileError(f"{path}: {what} should have 4 dimensions (N, 3, H, W), "
                            f"found shape {tuple(t.shape)}")
    if t.shape[1] != 3:
        raise DataFileError(f"{path}: {what} should have 3 channels (N, 3, H, W), "
                            f"found shape {tuple(t.shape)}")
    return t


def load_pair_file(path: str | Path, names: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a course `.pkl` (written by torch.save) holding a tuple of two uint8 image tensors.

    Loading uses `weights_only=True`: a file that tries to run code is refused, and runs nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        raise DataFileError(f"{path}: refused to load: the file holds more than tensors "
                            f"(it may try to run code). Detail: {str(err).splitlines()[0]}") from err
    except Exception as err:  # zip and pickle errors take many forms
        raise DataFileError(f"{path}: not a file written by torch.save ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''})") from err
    if not isinstance(obj, (tuple, list)) or len(obj) != 2:
        raise DataFileError(f"{path}: should hold a tuple of two tensors {names}, "
                            f"found {type(obj).__name__}"
                            + (f" of length {len(obj)}" if isinstance(obj, (tuple, list)) else ""))
    a, b = (_check_images(t, path, name) for t, name in zip(obj, names, strict=True))
    if a.shape != b.shape:
        raise DataFileError(f"{path}: {names[0]} and {names[1]} should have the same shape, "
                            f"found {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def load_course_folder(folder: str | Path, n_train: int | None = None,
                       n_val: int | None = None) -> DenoisingData:
    """The EE-559 course's data: `train_data.pkl` (noisy_imgs_1, noisy_imgs_2) and
    `val_data.pkl` (noisy_imgs, clean_imgs). `n_train` / `n_val` keep the first images only."""
    folder = Path(folder)
    missing = [f for f in COURSE_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DataFileError(f"{folder}: not a course data folder: missing {', '.join(missing)}")
    train_input, train_target = load_pair_file(folder / COURSE_FILES["train"],
                                               ("noisy_imgs_1", "noisy_imgs_2"))
    val_input, val_clean = load_pair_file(folder / COURSE_FILES["val"], ("noisy_imgs", "clean_imgs"))
    n_train = len(train_input) if n_train is None else min(n_train, len(train_input))
    n_val = len(val_input) if n_val is None else min(n_val, len(val_input))
    return DenoisingData(
        train_input=train_input[:n_train], train_target=train_target[:n_train],
        val_input=val_input[:n_val], val_clean=val_clean[:n_val],
        meta={"name": "course", "folder": str(folder), "noise": "course (fixed, unknown law)",
              "noise_params": {}, "n_train": n_train, "n_val": n_val},
    )


DATASETS = ("natural32",)


def load_dataset(source: str | Path = "natural32", noise: str = "gaussian",
                 n_train: int | None = None, n_val: int | None = None, seed: int = 0,
                 cache: bool = True, **params: float) -> DenoisingData:
    """The one way to get data. `source` is an embedded dataset's name ("natural32") or a folder
    holding the course's files. `noise` and its `params` (e.g. sigma=25/255) apply to embedded
    data; course files carry their own noise. `n_train`/`n_val` default to the full sizes
    (50,000 and 1,000)."""
    if str(source) in DATASETS:
        return load_natural32(noise, n_train or 50_000, n_val or 1_000, seed, cache, **params)
    folder = Path(source)
    if folder.is_dir():
        return load_course_folder(folder, n_train, n_val)
    raise DataFileError(f"{source}: neither an embedded dataset {list(DATASETS)} nor an existing "
                        f"folder of course files ({', '.join(COURSE_FILES.values())})")


def summarize_data(data: DenoisingData) -> pd.DataFrame:
    """One row per tensor of a dataset: shape, dtype and value range (0-255)."""
    rows = []
    for name in ("train_input", "train_target", "train_clean", "val_input", "val_clean"):
        t = getattr(data, name)
        if t is not None:
            rows.append({"tensor": name, "shape": tuple(t.shape), "dtype": str(t.dtype),
                         "min": int(t.min()), "max": int(t.max()), "mean": float(t.float().mean())})
    return pd.DataFrame(rows)
