"""The EE-559 course's own files: a folder holding `train_data.pkl` (noisy_imgs_1, noisy_imgs_2)
and `val_data.pkl` (noisy_imgs, clean_imgs), each a tuple of two uint8 tensors (N, 3, H, W),
values 0-255, written by torch.save. Their noise is the course's, fixed and of unknown law.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..files import UnreadableFileError, files_digest, load_torch, read_bytes
from ..models import MULTIPLE
from .crops import check_sizes
from .dataset import DataFileError, DenoisingData

COURSE_FILES = {"train": "train_data.pkl", "val": "val_data.pkl"}


def is_course_folder(source: str | Path) -> bool:
    """Whether `source` is a folder holding either of the course's files (COURSE_FILES), read by
    load_course_folder: data that carry their own noise."""
    folder = Path(source)
    return folder.is_dir() and any((folder / f).is_file() for f in COURSE_FILES.values())


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


def load_pair_file(path: str | Path, names: tuple[str, str],
                   raw: bytes | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a course `.pkl` (written by torch.save) holding a tuple of two uint8 image tensors.
    `raw`: its bytes, when the caller has read them already (to digest them too).

    Loading uses `weights_only=True`: a file that tries to run code is refused, and runs nothing.
    """
    try:
        obj = load_torch(path, raw=raw)
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
    `val_data.pkl` (noisy_imgs, clean_imgs). `n_train` / `n_val` keep the first images only.
    The meta holds a digest of both files' bytes (`files.files_digest`): replaced files under the
    same names are other data to a run, whose checkpoint then is not resumed on them.
    Each file is read once: its bytes are both loaded and digested (while they are loaded, the
    memory holds a file's bytes besides its tensors)."""
    check_sizes(n_train, n_val)
    folder = Path(folder)
    missing = [f for f in COURSE_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DataFileError(f"{folder}: not a course data folder: missing {', '.join(missing)}")
    paths = {split: folder / name for split, name in COURSE_FILES.items()}
    try:
        raw = {path: read_bytes(path) for path in paths.values()}
    except UnreadableFileError as err:
        raise DataFileError(str(err)) from None
    digest = files_digest(list(paths.values()), read=raw)
    train_input, train_target = load_pair_file(paths["train"], ("noisy_imgs_1", "noisy_imgs_2"),
                                               raw.pop(paths["train"]))
    val_input, val_clean = load_pair_file(paths["val"], ("noisy_imgs", "clean_imgs"), raw.pop(paths["val"]))
    for split, images in (("train", train_input), ("val", val_input)):
        check_trainable_images(images, paths[split])
    n_train = len(train_input) if n_train is None else min(n_train, len(train_input))
    n_val = len(val_input) if n_val is None else min(n_val, len(val_input))
    return DenoisingData(
        train_input=train_input[:n_train], train_target=train_target[:n_train],
        val_input=val_input[:n_val], val_clean=val_clean[:n_val],
        meta={"name": "course", "folder": str(folder.resolve()), "noise": "course (fixed, unknown law)",
              "noise_params": {}, "n_train": n_train, "n_val": n_val,
              "files_digest": digest},
    )
