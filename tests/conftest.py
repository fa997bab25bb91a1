"""Shared fixtures. Datasets are small and cached on disk (data/cache), so reruns are fast."""

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
