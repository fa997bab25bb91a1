"""What every data source returns: `DenoisingData`, paired uint8 image tensors (N, 3, H, W),
values 0-255, and `DataFileError`, the one error for data files that are missing or wrong."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch


class DataFileError(ValueError):
    """A data file is missing, unsafe, or not in the expected format. Names the file."""


@dataclass
class DenoisingData:
    """Paired uint8 images (N, 3, H, W), values 0-255.

    train_input / train_target: two independent noisy draws of the same crops (Noise2Noise).
    train_clean: the clean crops where known (all but course data), for Noise2Clean.
    val_input / val_clean: noisy validation images and their ground truth.
    val_groups: the source photo of each validation image, for per-photo scores, or None.
    meta: how the data were made (name, noise and its parameters, sizes, seed, photos...);
    run keys and checkpoint names are digests of it.
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

    def sources(self) -> dict[str, list[str] | str]:
        """What training and validation were cut from, in words, whatever the source: photos
        (natural32), files (a folder of images), dead leaves, or the course's files."""
        meta, out = self.meta, {}
        for part, word in (("train", "training"), ("val", "validation")):
            if f"{part}_photos" in meta:
                out[f"{word} photos"] = meta[f"{part}_photos"]
            elif f"{part}_files" in meta:
                out[f"{word} files"] = meta[f"{part}_files"]
            elif part == "train" and meta.get("n_deadleaves") == meta.get("n_train"):
                out[word] = "dead leaves only"
            else:
                out[word] = f"{meta.get('name', 'unnamed')} data (no sources recorded)"
        return out

    def __repr__(self) -> str:
        return (f"DenoisingData({self.meta.get('name')!r}, noise={self.meta.get('noise')!r}, "
                f"train={len(self.train_input)}, val={len(self.val_input)})")


TENSORS = ("train_input", "train_target", "train_clean", "val_input", "val_clean")


def summarize_data(data: DenoisingData) -> pd.DataFrame:
    """One row per tensor of a dataset: shape, dtype and value range (0-255)."""
    rows = []
    for name in TENSORS:
        t = getattr(data, name)
        if t is not None:
            rows.append({"tensor": name, "shape": tuple(t.shape), "dtype": str(t.dtype),
                         "min": int(t.min()), "max": int(t.max()), "mean": float(t.float().mean())})
    return pd.DataFrame(rows)
