"""Shared fixtures. Datasets are small and cached on disk (data/cache), so reruns are fast."""

from pathlib import Path

import pytest
import torch

from n2n_utils.data import load_dataset


@pytest.fixture(scope="session")
def small_data():
    """A few hundred natural32 gaussian pairs, with 100 held-out validation crops."""
    return load_dataset("natural32", noise="gaussian", n_train=400, n_val=100, seed=0)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def course_folder(folder: Path, n_train: int = 6, n_val: int = 4, size: int = 32) -> Path:
    """train_data.pkl and val_data.pkl as the course ships them, of random uint8 images."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    images = lambda n: torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    torch.save((images(n_train), images(n_train)), folder / "train_data.pkl")
    torch.save((images(n_val), images(n_val)), folder / "val_data.pkl")
    return folder
