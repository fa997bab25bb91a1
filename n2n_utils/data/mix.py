"""Dead leaves in a dataset: clean dead-leaves crops (cached, since 50,000 take a minute) and
`mix_in_deadleaves`, which swaps a fraction of a dataset's training pairs for dead leaves with
the same noise. `load_dataset("deadleaves32")` is natural32 with every training pair swapped.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import OptionError
from ..files import save_torch
from ..noise import NoiseFn
from .crops import cached
from .dataset import DenoisingData
from .deadleaves import DEFAULTS as DEADLEAVES
from .deadleaves import make_deadleaves


def check_fraction(fraction: float) -> None:
    """Refuse a share of training pairs outside 0-1."""
    if not 0 <= fraction <= 1:  # NaN too
        raise OptionError("mix_deadleaves", fraction, "a fraction of the training pairs, 0-1")


def mix_name(fraction: float) -> str:
    """natural32's name once a fraction (0-1] of its training pairs are dead leaves."""
    return "deadleaves32" if fraction == 1 else f"natural32+deadleaves{fraction:g}"


def load_deadleaves(n: int, seed: int = 0, cache: bool = True) -> torch.Tensor:
    """`n` clean dead-leaves crops, uint8 (n, 3, 32, 32), values 0-255, with the default
    parameters (n2n_utils.data.deadleaves.DEFAULTS); cached on disk."""
    spec = {"name": "deadleaves", "n": n, "seed": seed, "params": DEADLEAVES}
    return cached(f"deadleaves-n{n}-s{seed}", spec, lambda: torch.from_numpy(make_deadleaves(n, seed)), cache,
                  save=save_torch, load=lambda path: torch.load(path, weights_only=True))


def mix_in_deadleaves(data: DenoisingData, fraction: float, noise_fn: NoiseFn, seed: int,
                      cache: bool = True) -> DenoisingData:
    """Replace round(fraction * N) of `data`'s N training pairs, chosen at random, by dead
    leaves with the same noise; validation is untouched. Changes `data` in place, returns it.

    The dead leaves, the choice of pairs and their noise each come from their own stream of
    `seed`, so the photos' pairs and the validation set stay exactly those of the unmixed data.
    """
    check_fraction(fraction)
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
    data.meta.update(name=mix_name(fraction) if name == "natural32" else f"{name}+deadleaves{fraction:g}",
                     mix_deadleaves=fraction, n_deadleaves=k, deadleaves=DEADLEAVES)
    if k == n:  # no photo is left in training
        data.meta.pop("train_photos", None)
        data.meta.pop("train_files", None)
    return data
