"""Datasets: the embedded `natural32` set, synthetic dead leaves, a folder of your own photos,
and the EE-559 course's own files.

Everything here is uint8 in the course's layout, (N, 3, 32, 32), values 0-255. Conversion to
float in 0-1 happens once, on the device, inside training and evaluation.

`load_dataset(source, ...)` is the one entry point. `source` is one of
- "natural32": multi-scale crops of the colour photos that ship with scikit-image and
  scikit-learn, split by photo; `mix_deadleaves=f` replaces a fraction f of its training
  pairs with dead leaves (n2n_utils.deadleaves), validation unchanged;
- "deadleaves32": natural32 with every training pair replaced by dead leaves: training sees no
  photo at all, validation is natural32's held-out photos, bit for bit;
- a folder holding the course's `train_data.pkl` and `val_data.pkl`;
- any other folder of PNG, JPEG or TIFF images: cropped like natural32, split by file
  (n2n_utils.folders).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from skimage.transform import rescale

from .config import CACHE_DIR
from .deadleaves import DEFAULTS as DEADLEAVES
from .deadleaves import make_deadleaves
from .files import UnreadableFileError, load_torch, save_torch
from .models import MULTIPLE
from .noise import NoiseFn, get_noise, noise_params

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


def photo_folds(k: int) -> list[tuple[str, ...]]:
    """Leave-photos-out cross-validation: `k` disjoint sets of held-out photos that together
    cover PHOTOS. Fold 0 is the default validation split, so its scores compare with every
    other table; the training photos are cut into the other k - 1 folds, in order."""
    if not 2 <= k <= len(SPLITS["train"]) + 1:
        raise ValueError(f"k={k} folds: need 2 to {len(SPLITS['train']) + 1} (natural32 has "
                         f"{len(PHOTOS)} photos and the default split holds out {len(SPLITS['val'])})")
    rest = np.array_split(np.array(SPLITS["train"]), k - 1)
    return [tuple(SPLITS["val"]), *(tuple(str(p) for p in fold) for fold in rest)]


def _split(holdout: tuple[str, ...] | None) -> dict[str, list[str]]:
    """Training and validation photos when `holdout` (names in PHOTOS) are held out."""
    if holdout is None:
        return SPLITS
    unknown = set(holdout) - set(PHOTOS)
    if unknown or not holdout or len(set(holdout)) == len(PHOTOS):
        raise ValueError(f"holdout={holdout!r}: name one or more photos of {sorted(PHOTOS)}, "
                         f"and leave at least one for training")
    return {"train": [p for p in PHOTOS if p not in holdout], "val": list(dict.fromkeys(holdout))}


CROP = 32
SCALES = np.geomspace(1 / 2, 1 / 8, 7)  # photos are downscaled so a crop holds whole objects


def _pyramid(photo: str | np.ndarray) -> list[np.ndarray]:
    """Each view of a photo at every scale in SCALES, antialiased, as uint8 (H, W, 3). `photo`
    is a name in PHOTOS or an image, uint8 (H, W, 3), at least 32 pixels on each side."""
    levels = []
    for view in (PHOTOS[photo]() if isinstance(photo, str) else [photo]):
        for s in SCALES:
            s = max(s, CROP / min(view.shape[:2]))  # never smaller than one crop
            small = rescale(view, s, anti_aliasing=True, channel_axis=-1, preserve_range=True)
            levels.append(np.round(small).clip(0, 255).astype(np.uint8))
    return levels


def _random_crop(levels: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A 32x32 crop, uint8 (32, 32, 3), at a random place of a random level of a pyramid."""
    level = levels[rng.integers(0, len(levels))]
    y = rng.integers(0, level.shape[0] - CROP + 1)
    x = rng.integers(0, level.shape[1] - CROP + 1)
    return level[y:y + CROP, x:x + CROP]


def random_crops(photos: list[str] | list[np.ndarray], n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` random 32x32 crops, photo and scale drawn uniformly, as uint8 (n, 3, 32, 32), plus
    the index into `photos` of each crop's source. `photos` are names in PHOTOS or images,
    uint8 (H, W, 3)."""
    pyramids = [_pyramid(p) for p in photos]
    which = np.empty(n, dtype=np.int64)
    crops = np.empty((n, CROP, CROP, 3), dtype=np.uint8)
    for i in range(n):  # one crop's draws at a time: the first k crops do not depend on n
        which[i] = rng.integers(0, len(photos))
        crops[i] = _random_crop(pyramids[which[i]], rng)
    return crops.transpose(0, 3, 1, 2).copy(), which


# --------------------------------------------------------------------------- the dataset


@dataclass
class DenoisingData:
    """Paired uint8 images (N, 3, H, W), values 0-255.

    train_input / train_target: two independent noisy draws of the same crops (Noise2Noise).
    train_clean: the clean crops where known (all but course data), for Noise2Clean.
    val_input / val_clean: noisy validation images and their ground truth.
    val_groups: the source photo of each validation image, for per-photo scores, or None.
    train_groups: the source of each training pair (a photo, a file name, or "deadleaves"),
    or None (course data).
    """

    train_input: torch.Tensor
    train_target: torch.Tensor
    val_input: torch.Tensor
    val_clean: torch.Tensor
    train_clean: torch.Tensor | None = None
    val_groups: list[str] | None = None
    meta: dict = field(default_factory=dict)
    train_groups: list[str] | None = None

    def __repr__(self) -> str:
        return (f"DenoisingData({self.meta.get('name')!r}, noise={self.meta.get('noise')!r}, "
                f"train={len(self.train_input)}, val={len(self.val_input)})")


TENSORS = ("train_input", "train_target", "train_clean", "val_input", "val_clean")


def _cache_key(**spec) -> str:
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"{spec['name']}-{spec['noise']}-n{spec['n_train']}-v{spec['n_val']}-s{spec['seed']}-{digest}"


def _save(data: DenoisingData, path: Path) -> None:
    blob = {k: getattr(data, k) for k in TENSORS}
    save_torch({**blob, "val_groups": data.val_groups, "train_groups": data.train_groups,
                "meta": json.dumps(data.meta)}, path)


def _load(path: Path) -> DenoisingData:
    blob = torch.load(path, weights_only=True)
    meta = json.loads(blob.pop("meta"))
    return DenoisingData(**blob, meta=meta)


def _noisy_pairs(train_clean: np.ndarray, val_clean: np.ndarray, noise_fn: NoiseFn,
                 seed: int) -> dict[str, torch.Tensor]:
    """Two noisy draws of the training crops and one of the validation crops, plus the clean
    crops, all uint8 tensors. Validation noise has a generator of its own, so the validation
    set does not change with the number of training pairs."""
    train_generator = torch.Generator().manual_seed(2 * seed)
    val_generator = torch.Generator().manual_seed(2 * seed + 1)
    train_clean, val_clean = torch.from_numpy(train_clean), torch.from_numpy(val_clean)
    return {"train_input": noise_fn(train_clean, train_generator),
            "train_target": noise_fn(train_clean, train_generator), "train_clean": train_clean,
            "val_input": noise_fn(val_clean, val_generator), "val_clean": val_clean}


def make_natural32(noise: str = "gaussian", n_train: int = 50_000, n_val: int = 1_000,
                   seed: int = 0, *, mix_deadleaves: float = 0.0, holdout: tuple[str, ...] | None = None,
                   **params: float) -> DenoisingData:
    """Build natural32 from scratch (see module docstring); deterministic from `seed`. With
    `mix_deadleaves` f > 0, a fraction f of the training pairs are dead leaves instead.
    `holdout` names the validation photos (default SPLITS["val"]); all others are trained on."""
    full = noise_params(noise, **params)
    noise_fn = get_noise(noise, **full)
    split = _split(holdout)
    # separate streams: the validation crops are the same whatever n_train is
    train_clean, train_which = random_crops(split["train"], n_train, np.random.default_rng([seed, 0]))
    val_clean, val_which = random_crops(split["val"], n_val, np.random.default_rng([seed, 1]))
    data = DenoisingData(
        **_noisy_pairs(train_clean, val_clean, noise_fn, seed),
        val_groups=[split["val"][i] for i in val_which],
        train_groups=[split["train"][i] for i in train_which],
        meta={"name": "natural32", "noise": noise, "noise_params": full, "seed": seed,
              "n_train": n_train, "n_val": n_val, "train_photos": split["train"],
              "val_photos": split["val"], "scales": [float(s) for s in SCALES]},
    )
    return mix_in_deadleaves(data, mix_deadleaves, noise_fn, seed, cache=False)


def load_natural32(noise: str = "gaussian", n_train: int = 50_000, n_val: int = 1_000,
                   seed: int = 0, cache: bool = True, *, mix_deadleaves: float = 0.0,
                   holdout: tuple[str, ...] | None = None, **params: float) -> DenoisingData:
    """natural32, from the on-disk cache when it was built before with the same settings.
    A mix is made from natural32 and dead leaves (each cached too) and cached itself."""
    _check_fraction(mix_deadleaves)
    spec = {"name": "natural32", "noise": noise, "params": noise_params(noise, **params),
            "n_train": n_train, "n_val": n_val, "seed": seed, "version": 2}
    if holdout is not None and _split(holdout) != SPLITS:  # the default split keeps its cache key
        spec["holdout"] = list(_split(holdout)["val"])
    if mix_deadleaves:
        spec.update(name=_mix_name(mix_deadleaves), mix_deadleaves=mix_deadleaves,
                    deadleaves=DEADLEAVES)
    path = CACHE_DIR / f"{_cache_key(**spec)}.pt"
    if cache and path.exists():
        data = _load(path)
    else:
        if mix_deadleaves:
            base = load_natural32(noise, n_train, n_val, seed, cache, holdout=holdout, **params)
            data = mix_in_deadleaves(base, mix_deadleaves, get_noise(noise, **params), seed, cache)
        else:
            data = make_natural32(noise, n_train, n_val, seed, holdout=holdout, **params)
        if cache:
            _save(data, path)
    return data


# --------------------------------------------------------------------------- dead leaves


def _check_fraction(fraction: float) -> None:
    if not 0 <= fraction <= 1:
        raise ValueError(f"mix_deadleaves is a fraction of the training pairs, 0-1; got {fraction}")


def _mix_name(fraction: float) -> str:
    return "deadleaves32" if fraction == 1 else f"natural32+deadleaves{fraction:g}"


def load_deadleaves(n: int, seed: int = 0, cache: bool = True) -> torch.Tensor:
    """`n` clean dead-leaves crops, uint8 (n, 3, 32, 32), values 0-255, with the default
    parameters (n2n_utils.deadleaves.DEFAULTS); cached on disk, since 50,000 take a minute."""
    spec = {"name": "deadleaves", "n": n, "seed": seed, "params": DEADLEAVES, "version": 1}
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    path = CACHE_DIR / f"deadleaves-n{n}-s{seed}-{digest}.pt"
    if cache and path.exists():
        return torch.load(path, weights_only=True)
    crops = torch.from_numpy(make_deadleaves(n, seed))
    if cache:
        save_torch(crops, path)
    return crops


def mix_in_deadleaves(data: DenoisingData, fraction: float, noise_fn: NoiseFn, seed: int,
                      cache: bool = True) -> DenoisingData:
    """Replace round(fraction * N) of `data`'s N training pairs, chosen at random, by dead
    leaves with the same noise; validation is untouched. Changes `data` in place, returns it.

    The dead leaves, the choice of pairs and their noise each come from their own stream of
    `seed`, so the photos' pairs and the validation set stay exactly those of the unmixed data.
    """
    _check_fraction(fraction)
    if not fraction:
        return data
    if data.train_clean is None:
        raise ValueError(f"dataset {data.meta.get('name')!r} has no clean training images, so its "
                         f"noise is unknown and dead leaves cannot be given the same")
    n = len(data.train_input)
    k = round(fraction * n)
    leaves_seed, pick_seed, noise_seed = (int(s) for s in
                                          np.random.SeedSequence([seed, 559]).generate_state(3))
    pick = np.sort(np.random.default_rng(pick_seed).choice(n, size=k, replace=False))
    if k:
        clean = load_deadleaves(k, leaves_seed, cache)
        generator = torch.Generator().manual_seed(noise_seed)
        index = torch.from_numpy(pick)
        data.train_input[index] = noise_fn(clean, generator)
        data.train_target[index] = noise_fn(clean, generator)
        data.train_clean[index] = clean
    data.train_groups = list(data.train_groups or [data.meta.get("name", "")] * n)
    for i in pick.tolist():
        data.train_groups[i] = "deadleaves"
    name = data.meta.get("name")
    data.meta.update(name=_mix_name(fraction) if name == "natural32" else f"{name}+deadleaves{fraction:g}",
                     mix_deadleaves=fraction, n_deadleaves=k, deadleaves=DEADLEAVES)
    if k == n:  # no photo is left in training
        data.meta.pop("train_photos", None)
        data.meta.pop("train_files", None)
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


def check_trainable_images(images: torch.Tensor, path: Path) -> None:
    """Refuse at load time, naming the file, images that training could not use: none at all
    (an empty validation set would fail only after a whole epoch), or sides that are not
    multiples of the network's 32-px pooling grid."""
    if len(images) == 0:
        raise DataFileError(f"{path}: holds no images (shape {tuple(images.shape)})")
    h, w = images.shape[-2:]
    if h % MULTIPLE or w % MULTIPLE:
        raise DataFileError(f"{path}: images are {w}x{h} pixels; training needs sides that are "
                            f"multiples of {MULTIPLE} (crop or pad them)")


def load_pair_file(path: str | Path, names: tuple[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a course `.pkl` (written by torch.save) holding a tuple of two uint8 image tensors.

    Loading uses `weights_only=True`: a file that tries to run code is refused, and runs nothing.
    """
    try:
        obj = load_torch(path)
    except UnreadableFileError as err:
        raise DataFileError(str(err)) from None
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
    for split, images in (("train", train_input), ("val", val_input)):
        check_trainable_images(images, folder / COURSE_FILES[split])
    n_train = len(train_input) if n_train is None else min(n_train, len(train_input))
    n_val = len(val_input) if n_val is None else min(n_val, len(val_input))
    return DenoisingData(
        train_input=train_input[:n_train], train_target=train_target[:n_train],
        val_input=val_input[:n_val], val_clean=val_clean[:n_val],
        meta={"name": "course", "folder": str(folder), "noise": "course (fixed, unknown law)",
              "noise_params": {}, "n_train": n_train, "n_val": n_val},
    )


# --------------------------------------------------------------------------- one entry point

DATASETS = ("natural32", "deadleaves32")


def load_dataset(source: str | Path = "natural32", noise: str = "gaussian",
                 n_train: int | None = None, n_val: int | None = None, seed: int = 0,
                 cache: bool = True, mix_deadleaves: float = 0.0, holdout: tuple[str, ...] | None = None,
                 **params: float) -> DenoisingData:
    """The one way to get data. `source` is an embedded dataset's name (DATASETS), a folder
    holding the course's files, or a folder of images (see the module docstring). `noise` and
    its `params` (e.g. sigma=25/255) apply to all but course files, which carry their own
    noise. `n_train`/`n_val` default to the full sizes (50,000 and 1,000; all for course files).
    `mix_deadleaves` (0-1) is the fraction of training pairs replaced by dead leaves.
    `holdout` (natural32 only) names the photos to validate on, e.g. one of `photo_folds(k)`."""
    n_full = 50_000 if n_train is None else n_train
    n_val_full = 1_000 if n_val is None else n_val
    if holdout is not None and str(source) != "natural32":
        raise ValueError(f"holdout chooses natural32's validation photos; {source} has its own split")
    if str(source) == "natural32":
        return load_natural32(noise, n_full, n_val_full, seed, cache, mix_deadleaves=mix_deadleaves,
                              holdout=holdout, **params)
    if str(source) == "deadleaves32":
        if mix_deadleaves not in (0, 1):
            raise ValueError("deadleaves32 trains on dead leaves only; for a mix, use natural32 "
                             "with mix_deadleaves")
        return load_natural32(noise, n_full, n_val_full, seed, cache, mix_deadleaves=1.0, **params)
    folder = Path(source)
    if folder.is_dir():
        from .folders import IMAGE_SUFFIXES, image_files, load_image_folder  # folders imports this module

        course = any((folder / f).is_file() for f in COURSE_FILES.values())
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
        return load_course_folder(folder, n_train, n_val)
    raise DataFileError(f"{source}: neither an embedded dataset {list(DATASETS)} nor an existing "
                        f"folder (of course files {', '.join(COURSE_FILES.values())}, or of images)")


def summarize_data(data: DenoisingData) -> pd.DataFrame:
    """One row per tensor of a dataset: shape, dtype and value range (0-255)."""
    rows = []
    for name in TENSORS:
        t = getattr(data, name)
        if t is not None:
            rows.append({"tensor": name, "shape": tuple(t.shape), "dtype": str(t.dtype),
                         "min": int(t.min()), "max": int(t.max()), "mean": float(t.float().mean())})
    return pd.DataFrame(rows)
