"""A folder of the user's own photos as a dataset source: `load_dataset("path/to/photos/")`.

PNG, JPEG and TIFF files (8 or 16 bit; RGB, grey or RGBA) are read one at a time, cut into the
same multi-scale 32x32 crops as natural32, and split by file: no file feeds both training and
validation. Errors name the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from ..files import files_digest
from ..images import rgb8
from ..noise import get_noise, noise_params
from .crops import CROP, cached, check_sizes, noisy_crops, pyramid, random_crop
from .dataset import DataFileError, DenoisingData
from .deadleaves import DEFAULTS as DEADLEAVES
from .mix import check_fraction, mix_in_deadleaves

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def image_files(folder: str | Path) -> list[Path]:
    """The images directly in `folder` (by suffix, any case; hidden files left out), by name.
    A link whose target is gone is one of them, so that it is named rather than skipped."""
    return sorted(p for p in Path(folder).iterdir()
                  if (p.is_file() or p.is_symlink() and not p.exists())
                  and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _unreadable(path: Path, err: Exception) -> DataFileError:
    detail = str(err).splitlines()[0] if str(err) else ""
    return DataFileError(f"{path}: not a readable image ({type(err).__name__}: {detail})")


def _check_no_copies(files: list[Path]) -> None:
    """Refuse two files of the same bytes: split by file, the copy could go to training and its
    original to validation, which would then score photos the network trained on."""
    by_size: dict[int, list[Path]] = {}
    for path in files:
        by_size.setdefault(path.stat().st_size, []).append(path)
    for same_size in (group for group in by_size.values() if len(group) > 1):
        # each file read once, by digest: comparing pairs is quadratic in a folder of uncompressed
        # photos of one size, and filecmp's cache answers by name, size and time, not the bytes now
        seen: dict[str, Path] = {}
        for second in same_size:
            first = seen.setdefault(files_digest([second], names=False), second)
            if first is not second:
                raise DataFileError(f"{second}: the same bytes as {first.name}; split by file, one could train "
                                    f"and the other validate: remove one")


def _check_image(path: Path) -> None:
    """Refuse, from its header alone, a file that is no image or is smaller than one crop."""
    try:
        with Image.open(path) as im:
            width, height = im.size
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise _unreadable(path, err) from err
    if min(width, height) < CROP:
        raise DataFileError(f"{path}: {width}x{height} pixels, smaller than one {CROP}x{CROP} crop")


def read_rgb8(path: str | Path) -> np.ndarray:
    """An image file (PNG, JPEG, TIFF; 8 or 16 bits) as uint8 (H, W, 3), values 0-255, turned
    upright by its EXIF orientation: a training photo. Lenient where `images.read_image`, which
    reads what `n2n denoise` must write back in kind, is strict: palette and CMYK files are
    converted to RGB here. 16-bit samples keep their top 8 bits, grey is repeated into three
    channels and alpha is dropped (not composited): images.rgb8, as in the explorer."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):  # 16-bit grey
                a = np.asarray(im)
                if a.min() < 0 or a.max() > 65535:
                    raise DataFileError(f"{path}: {im.mode} samples outside 0-65535; "
                                        f"save the image with 8 or 16 bits")
                a = a.astype(np.uint16)  # mode I is int32; I;16B big-endian
            elif im.mode == "F":
                raise DataFileError(f"{path}: floating-point samples; save the image with 8 or 16 bits")
            elif im.mode in ("L", "LA", "RGB", "RGBA"):
                a = np.asarray(im)
            else:  # palette, CMYK, YCbCr, 1-bit ...
                a = np.asarray(im.convert("RGB"))
    except DataFileError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise _unreadable(path, err) from err
    if min(a.shape[:2]) < CROP:
        raise DataFileError(f"{path}: {a.shape[1]}x{a.shape[0]} pixels, smaller than one "
                            f"{CROP}x{CROP} crop")
    return rgb8(a)


def _file_crops(files: list[Path], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Like natural32's `random_crops`, from image files, reading one file at a time: uint8 (n, 3, 32, 32)
    and the index into `files` of each crop's source."""
    which = rng.integers(0, len(files), size=n)
    crops = np.empty((n, CROP, CROP, 3), dtype=np.uint8)
    # a bar on a terminal (disable=None: none in a log or a notebook's captured stream): a phone
    # photo takes seconds to decode and downscale, so a folder of them is minutes before training
    for f, path in enumerate(tqdm(files, desc="reading photos", unit="photo", leave=False, disable=None)):
        mine = np.flatnonzero(which == f)
        if len(mine):
            levels = pyramid([read_rgb8(path)])
            for i in mine:
                crops[i] = random_crop(levels, rng)
    return crops.transpose(0, 3, 1, 2).copy(), which


def load_image_folder(folder: str | Path, noise: str = "gaussian", n_train: int = 50_000,
                      n_val: int = 1_000, seed: int = 0, val_fraction: float = 0.2, *,
                      mix_deadleaves: float = 0.0, cache: bool = True,
                      **params: float) -> DenoisingData:
    """Your own photos as a dataset: every PNG, JPEG or TIFF directly in `folder`, cropped at
    natural32's scales and noised like it. The split is by file: `val_fraction` of the files
    (at least one, and never all), drawn with `seed`, give only validation crops. Cached on
    disk like natural32, keyed by a digest of the files' names and bytes (`files_digest`), which
    the meta holds too, so a photo replaced under its name, even by one of the same size and
    time, is other data to the cache and to every run. Two files of the same bytes are refused."""
    check_sizes(n_train, n_val)
    if not 0 <= val_fraction <= 1:  # NaN too
        raise ValueError(f"val_fraction={val_fraction}: from 0 to 1 (the share of files kept for validation)")
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: folder not found")
    files = image_files(folder)
    if not files:
        raise DataFileError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    if len(files) < 2:
        raise DataFileError(f"{folder}: only one image ({files[0].name}); at least 2 are needed "
                            f"to split by file into training and validation")
    for file in files:
        if not file.exists():
            raise DataFileError(f"{file}: a link to {os.readlink(file)}, which is not found")
    check_fraction(mix_deadleaves)
    full = noise_params(noise, **params)
    digest = files_digest(files)  # the bytes: a size and time can survive a replacement (cp -p, tar)
    spec = {"name": "images", "folder": str(folder.resolve()), "noise": noise, "params": full,
            "files_digest": digest,
            "n_train": n_train, "n_val": n_val, "seed": seed, "val_fraction": val_fraction,
            "mix_deadleaves": mix_deadleaves}
    if mix_deadleaves:
        spec["deadleaves"] = DEADLEAVES

    def make() -> DenoisingData:
        for file in files:
            _check_image(file)
        _check_no_copies(files)  # (a cached dataset passed this: the digest in its key is of these bytes)
        noise_fn = get_noise(noise, **full)
        rng = np.random.default_rng(seed)
        n_held = min(len(files) - 1, max(1, round(val_fraction * len(files))))
        order = rng.permutation(len(files))
        val_files = sorted(files[i] for i in order[:n_held])
        train_files = sorted(files[i] for i in order[n_held:])
        train_clean, train_which = _file_crops(train_files, n_train, np.random.default_rng([seed, 0]))
        val_clean, val_which = _file_crops(val_files, n_val, np.random.default_rng([seed, 1]))
        data = noisy_crops(
            train_clean, val_clean, noise_fn, seed,
            train_groups=[train_files[i].name for i in train_which],
            val_groups=[val_files[i].name for i in val_which],
            meta={"name": "images", "folder": str(folder.resolve()), "noise": noise, "noise_params": full,
                  "seed": seed, "n_train": n_train, "n_val": n_val, "val_fraction": val_fraction,
                  "train_files": [p.name for p in train_files], "val_files": [p.name for p in val_files],
                  "files_digest": digest},
        )
        return mix_in_deadleaves(data, mix_deadleaves, noise_fn, seed, cache)

    return cached(f"images-{noise}-n{n_train}-v{n_val}-s{seed}", spec, make, cache)
