"""natural32: multi-scale 32x32 crops of the colour photos that ship with scikit-image and
scikit-learn (no download), split by photo, with two independent noisy draws of each training
crop. uint8 (N, 3, 32, 32), values 0-255. Deterministic from its seed, and cached on disk.
`crop` cuts larger crops of the same photos instead (e.g. 64: (N, 3, 64, 64)), for a network
that should learn to use more context (the blind weights: strong noise needs it).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..config import OptionError
from ..models import MULTIPLE
from ..noise import get_noise, noise_params
from .crops import CROP, cached, check_sizes, noisy_crops, pyramid, random_crop
from .dataset import DenoisingData
from .deadleaves import DEFAULTS as DEADLEAVES
from .mix import check_fraction, mix_in_deadleaves, mix_name

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


# Every colour photograph that ships inside scikit-image and scikit-learn (no download), each
# a function returning its views, uint8 (H, W, 3). The stereo motorcycle pair is one photo
# with two views. Synthetic graphics (colorwheel, logo) are left out: they are not photos.
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


def split_photos(holdout: tuple[str, ...] | None) -> dict[str, list[str]]:
    """Training and validation photos when `holdout` (names in PHOTOS) are held out;
    SPLITS when `holdout` is None."""
    if holdout is None:
        return SPLITS
    unknown = set(holdout) - set(PHOTOS)
    if unknown or not holdout or len(set(holdout)) == len(PHOTOS):
        raise ValueError(f"holdout={holdout!r}: name one or more photos of {sorted(PHOTOS)}, "
                         f"and leave at least one for training")
    return {"train": [p for p in PHOTOS if p not in holdout], "val": list(dict.fromkeys(holdout))}


@cache
def photo_pyramid(name: str, crop: int = CROP) -> tuple[np.ndarray, ...]:
    """A photo of PHOTOS at every scale (crops.pyramid for `crop`), read-only, built once per process."""
    levels = pyramid(PHOTOS[name](), crop)
    for level in levels:
        level.setflags(write=False)
    return tuple(levels)


def random_crops(photos: list[str] | list[np.ndarray], n: int, rng: np.random.Generator,
                 crop: int = CROP) -> tuple[np.ndarray, np.ndarray]:
    """`n` random `crop` x `crop` crops, photo and scale drawn uniformly, as uint8 (n, 3, crop,
    crop), plus the index into `photos` of each crop's source. `photos` are names in PHOTOS or
    images, uint8 (H, W, 3)."""
    pyramids = [photo_pyramid(p, crop) if isinstance(p, str) else pyramid([p], crop) for p in photos]
    which = np.empty(n, dtype=np.int64)
    crops = np.empty((n, crop, crop, 3), dtype=np.uint8)
    for i in range(n):  # one crop's draws at a time: the first k crops do not depend on n
        which[i] = rng.integers(0, len(photos))
        crops[i] = random_crop(pyramids[which[i]], rng, crop)
    return crops.transpose(0, 3, 1, 2).copy(), which


# --------------------------------------------------------------------------- the dataset

MAX_CROP = 128  # the largest crop side: the smallest photo is 150 pixels high at scale 1/2


def check_crop(crop: int, mix_deadleaves: float = 0.0) -> None:
    """Refuse a crop side natural32 cannot cut, or the ResUNet cannot take: it pools five times,
    so a side is a multiple of 32 (a 32x32 crop is one pixel at the bottom of the U); and a
    mix with dead leaves, which are 32x32, on other crops."""
    if not isinstance(crop, int) or not CROP <= crop <= MAX_CROP or crop % MULTIPLE:
        raise OptionError("crop", crop, "a crop's side must be 32, 64, 96 or 128 pixels")
    if mix_deadleaves and crop != CROP:
        raise OptionError("crop", crop, f"dead leaves are 32x32; mix_deadleaves needs crop={CROP}")


def make_natural32(noise: str = "gaussian", n_train: int = 50_000, n_val: int = 1_000,
                   seed: int = 0, *, mix_deadleaves: float = 0.0, holdout: tuple[str, ...] | None = None,
                   crop: int = CROP, **params: float) -> DenoisingData:
    """Build natural32 from scratch; deterministic from `seed`. With `mix_deadleaves` f > 0,
    a fraction f of the training pairs are dead leaves instead. `holdout` names the validation
    photos (default SPLITS["val"]); all others are trained on. `crop`: the crops' side in
    pixels, CROP (32) to MAX_CROP (128); meta records one other than CROP."""
    check_crop(crop, mix_deadleaves)
    full = noise_params(noise, **params)
    noise_fn = get_noise(noise, **full)
    split = split_photos(holdout)
    # separate streams: the validation crops are the same whatever n_train is
    train_clean, train_which = random_crops(split["train"], n_train, np.random.default_rng([seed, 0]), crop)
    val_clean, val_which = random_crops(split["val"], n_val, np.random.default_rng([seed, 1]), crop)
    data = noisy_crops(
        train_clean, val_clean, noise_fn, seed,
        train_groups=[split["train"][i] for i in train_which],
        val_groups=[split["val"][i] for i in val_which],
        meta={"name": "natural32", "noise": noise, "noise_params": full, "seed": seed,
              "n_train": n_train, "n_val": n_val, "train_photos": split["train"],
              "val_photos": split["val"], **({"crop": crop} if crop != CROP else {})},
    )
    return mix_in_deadleaves(data, mix_deadleaves, noise_fn, seed, cache=False)


def load_natural32(noise: str = "gaussian", n_train: int = 50_000, n_val: int = 1_000,
                   seed: int = 0, cache: bool = True, *, mix_deadleaves: float = 0.0,
                   holdout: tuple[str, ...] | None = None, crop: int = CROP, **params: float) -> DenoisingData:
    """natural32, from the on-disk cache when it was built before with the same settings.
    A mix is made from natural32 and dead leaves (each cached too) and cached itself."""
    check_sizes(n_train, n_val)
    check_fraction(mix_deadleaves)
    spec = {"name": "natural32", "noise": noise, "params": noise_params(noise, **params),
            "n_train": n_train, "n_val": n_val, "seed": seed}
    if holdout is not None and split_photos(holdout) != SPLITS:  # the default split keeps its cache key
        spec["holdout"] = list(split_photos(holdout)["val"])
    size = ""  # the crop side in the file name, when not the default
    if crop != CROP:  # ... and the default crop keeps it too
        check_crop(crop, mix_deadleaves)
        spec["crop"], size = crop, f"-c{crop}"
    if mix_deadleaves:
        spec.update(name=mix_name(mix_deadleaves), mix_deadleaves=mix_deadleaves,
                    deadleaves=DEADLEAVES)

    def make() -> DenoisingData:
        if mix_deadleaves:
            base = load_natural32(noise, n_train, n_val, seed, cache, holdout=holdout, **params)
            return mix_in_deadleaves(base, mix_deadleaves, get_noise(noise, **params), seed, cache)
        return make_natural32(noise, n_train, n_val, seed, holdout=holdout, crop=crop, **params)

    return cached(f"{spec['name']}-{noise}-n{n_train}-v{n_val}-s{seed}{size}", spec, make, cache)
