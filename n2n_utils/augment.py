"""Augmentations that keep the noise law: applied identically to input and target, they turn
a valid Noise2Noise pair into another valid pair.

Each takes float batches x, y (B, C, H, W) and a CPU torch.Generator, draws one transform per
image, and returns the transformed pair.

- dihedral: the 8 rotations/flips of the square. Valid for every noise here (all are
  independent of position).
- channel_permutation: a random order of R, G, B. Valid where the noise treats channels
  alike: gaussian (one sigma or blind), poisson, impulse and text with random colours.
- inversion: x -> 1 - x. Valid where the noise law is symmetric about mid-grey: gaussian, at
  one sigma or blind (clipping at 0 and at 1 mirror each other), random-valued impulse (uniform values) and
  text in uniformly random colours. Not poisson, whose variance grows with the signal.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from .config import OptionError

Pair = tuple[torch.Tensor, torch.Tensor]


def _draw(n: int, high: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=generator).to(device)


def dihedral_transform(x: torch.Tensor, k: int) -> torch.Tensor:
    """Element k (0-7) of the dihedral group: rotate by 90 * (k % 4) degrees, then mirror if k >= 4."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if k >= 4 else x


def dihedral_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    """Undo dihedral_transform(., k): mirror back, then rotate the other way."""
    x = torch.flip(x, dims=(-1,)) if k >= 4 else x
    return torch.rot90(x, -(k % 4), dims=(-2, -1))


def dihedral(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Pair:
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"dihedral augmentation needs square images, got {tuple(x.shape[-2:])}")
    ks = _draw(len(x), 8, generator, torch.device("cpu"))
    x_out, y_out = torch.empty_like(x), torch.empty_like(y)
    for k in ks.unique().tolist():
        idx = (ks == k).nonzero().squeeze(1).to(x.device)
        x_out[idx] = dihedral_transform(x[idx], k)
        y_out[idx] = dihedral_transform(y[idx], k)
    return x_out, y_out


def channel_permutation(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Pair:
    n, c = x.shape[:2]
    order = torch.argsort(torch.rand((n, c), generator=generator), dim=1).to(x.device)
    index = order[:, :, None, None].expand_as(x)
    return x.gather(1, index), y.gather(1, index)


def inversion(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Pair:
    flip = (_draw(len(x), 2, generator, x.device) == 1)[:, None, None, None]
    return torch.where(flip, 1 - x, x), torch.where(flip, 1 - y, y)


AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Generator], Pair]] = {
    "dihedral": dihedral,
    "channel_permutation": channel_permutation,
    "inversion": inversion,
}

VALID_FOR = {
    "dihedral": {"gaussian", "gaussian_blind", "poisson", "impulse", "text"},
    "channel_permutation": {"gaussian", "gaussian_blind", "poisson", "impulse", "text"},
    "inversion": {"gaussian", "gaussian_blind", "impulse", "text"},
}


def check_augmentations(names: tuple[str, ...] | list[str]) -> None:
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise OptionError("augment", " ".join(unknown), f"unknown augmentation; choose from "
                          f"{', '.join(sorted(AUGMENTATIONS))}")


def valid_augmentations(noise: str) -> tuple[str, ...]:
    """The augmentations that keep `noise`'s law (only dihedral for unknown noise)."""
    return tuple(n for n, ok in VALID_FOR.items() if noise in ok) or ("dihedral",)


# --------------------------------------------------------------------------- test-time ensembles

Transform = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def _permute(order: tuple[int, ...]) -> Transform:
    undo = tuple(order.index(c) for c in range(len(order)))
    return (lambda x: x[:, list(order)]), (lambda y: y[:, list(undo)])


def members(name: str) -> list[Transform]:
    """Every transform of an augmentation as (apply, undo), for averaging a denoiser's outputs
    over them (a test-time ensemble): dihedral 8, channel_permutation 6, inversion 2."""
    check_augmentations([name])
    if name == "dihedral":
        return [((lambda x, k=k: dihedral_transform(x, k)), (lambda y, k=k: dihedral_inverse(y, k)))
                for k in range(8)]
    if name == "inversion":
        return [((lambda x: x), (lambda y: y)), ((lambda x: 1 - x), (lambda y: 1 - y))]
    return [_permute(order) for order in itertools.permutations(range(3))]


# The study's test-time ensemble: 16 passes. Channel permutations are left out: they would
# multiply the cost by 6 more (notebook 06 measures what the ensemble gains).
ENSEMBLE = ("dihedral", "inversion")


def ensemble_for(noise: str) -> tuple[str, ...]:
    """The members of ENSEMBLE that keep `noise`'s law."""
    return tuple(n for n in ENSEMBLE if n in valid_augmentations(noise))


def augment(names: tuple[str, ...] | list[str], x: torch.Tensor, y: torch.Tensor,
            generator: torch.Generator) -> Pair:
    """Apply each named augmentation in turn to the pair (x, y)."""
    check_augmentations(names)
    for name in names:
        x, y = AUGMENTATIONS[name](x, y, generator)
    return x, y
