"""Noise models. Each takes clean uint8 images (N, C, H, W) and returns noisy uint8 images.

All of them quantise to uint8 like the course's data, so the network never sees a value the
course files could not hold. Clipping to [0, 255] happens before quantising, and it biases the
noisy target: near black and white the clipped noise no longer has zero mean (a pixel at 0
can only get brighter), so an L2-trained Noise2Noise network learns E[clip(x + n)] != x there.
With sigma = 25/255 this matters only within about 2 sigma of the ends (a few percent of
natural pixels); the bias is part of the task the course set, so we keep it.

Pick a model by name with `get_noise("gaussian", sigma=25/255)`.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

NoiseFn = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _to_float(clean: torch.Tensor) -> torch.Tensor:
    if clean.dtype != torch.uint8 or clean.ndim != 4:
        raise ValueError(f"noise models take uint8 images (N, C, H, W), got {clean.dtype} "
                         f"{tuple(clean.shape)}")
    return clean.float() / 255.0


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def gaussian(clean: torch.Tensor, generator: torch.Generator, sigma: float = 25 / 255) -> torch.Tensor:
    """Additive white gaussian noise of standard deviation `sigma` (in 0-1 units), clipped."""
    x = _to_float(clean)
    return _to_uint8(x + sigma * torch.randn(x.shape, generator=generator))


def gaussian_blind(clean: torch.Tensor, generator: torch.Generator,
                   max_sigma: float = 50 / 255) -> torch.Tensor:
    """Gaussian noise whose standard deviation is drawn per image, uniformly from 0 to
    `max_sigma` (0-1 units), for weights that must work at any level (blind denoising).

    The levels come from a stream fixed by the generator's seed, not by its state: two calls
    with one generator, which is how a Noise2Noise pair is drawn (n2n_utils.data), give each
    image the same level and independent noise, so the pair keeps the Noise2Noise condition.
    """
    x = _to_float(clean)
    levels = torch.Generator().manual_seed(generator.initial_seed() ^ 0x5EED)
    sigma = max_sigma * torch.rand((x.shape[0], 1, 1, 1), generator=levels)
    return _to_uint8(x + sigma * torch.randn(x.shape, generator=generator))


def poisson(clean: torch.Tensor, generator: torch.Generator, lam: float = 30.0) -> torch.Tensor:
    """Shot noise: a pixel of intensity x (0-1) collects Poisson(lam * x) photons, shown as
    count / lam. Its variance x / lam depends on the signal, unlike the gaussian's. Clipping
    happens only at the top (counts above lam), where it biases bright pixels down."""
    x = _to_float(clean)
    return _to_uint8(torch.poisson(x * lam, generator=generator) / lam)


def impulse(clean: torch.Tensor, generator: torch.Generator, p: float = 0.25) -> torch.Tensor:
    """Random-valued impulse noise: each pixel, with probability `p`, takes a uniformly random
    colour (all channels replaced). Its mean is not the clean value, so an L2 loss learns a
    blend of image and grey; the median (L1 loss) is right for p < 0.5 (Noise2Noise paper)."""
    x = _to_float(clean)
    n, c, h, w = x.shape
    hit = torch.rand((n, 1, h, w), generator=generator) < p
    values = torch.rand(x.shape, generator=generator)
    return _to_uint8(torch.where(hit, values, x))


_ALPHABET = string.ascii_letters + string.digits


def text(clean: torch.Tensor, generator: torch.Generator, max_strings: int = 4,
         font_size: int = 10) -> torch.Tensor:
    """Text overlay: 1 to `max_strings` random strings in random colours at random places,
    as in the Noise2Noise paper's text removal. The overlay covers about a fifth of a 32x32
    image at the defaults. Its mean is not the clean value either: use an L1 loss."""
    if clean.dtype != torch.uint8 or clean.ndim != 4:
        raise ValueError(f"noise models take uint8 images (N, C, H, W), got {clean.dtype}")
    rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    font = ImageFont.load_default(size=font_size)
    images = clean.permute(0, 2, 3, 1).numpy()
    out = np.empty_like(images)
    mode = {1: "L", 3: "RGB"}[images.shape[-1]]
    for i, image in enumerate(images):
        pil = Image.fromarray(image.squeeze(-1) if mode == "L" else image, mode)
        draw = ImageDraw.Draw(pil)
        h, w = image.shape[:2]
        for _ in range(rng.integers(1, max_strings + 1)):
            word = "".join(rng.choice(list(_ALPHABET), size=rng.integers(2, 8)))
            xy = (int(rng.integers(-font_size, w)), int(rng.integers(-font_size // 2, h)))
            colour = tuple(int(v) for v in rng.integers(0, 256, size=3))
            draw.text(xy, word, fill=colour[0] if mode == "L" else colour, font=font)
        out[i] = np.asarray(pil).reshape(image.shape)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


NOISE_MODELS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian": gaussian,
    "gaussian_blind": gaussian_blind,
    "poisson": poisson,
    "impulse": impulse,
    "text": text,
}
DEFAULT_PARAMS: dict[str, dict[str, float]] = {
    "gaussian": {"sigma": 25 / 255},
    "gaussian_blind": {"max_sigma": 50 / 255},
    "poisson": {"lam": 30.0},
    "impulse": {"p": 0.25},
    "text": {"max_strings": 4, "font_size": 10},
}


# The loss whose minimiser is the clean value under each noise: the mean (L2) for zero-mean
# noise, the median (L1) where outliers replace pixels (impulse, text), as the Noise2Noise
# paper shows. Blind gaussian: log_mse, an L2 whose pairs count alike at every level
# (training.log_mse_loss): after 30,000 pairs it scored 1.7 dB more than mse at sigma 10/255
# on the held-out photos, 0.25 less at 25 and 0.7 less at 50, the gaps to BM3D then nearly
# equal at every level (-2.3 to -2.5 dB, against mse's -1.8 to -4.1).
SUITED_LOSS = {"gaussian": "mse", "gaussian_blind": "log_mse", "poisson": "mse", "impulse": "l1", "text": "l1"}


# The values each parameter may take, in words, and the test. Sigmas are in 0-1 units, as
# the images the models see: 25 grey levels is 25/255, and a sigma of 25 would be pure noise.
PARAM_RANGES: dict[str, tuple[str, Callable[[float], bool]]] = {
    "sigma": ("from 0 to 1 (0-1 units: 25/255 for 25 grey levels)", lambda v: 0 <= v <= 1),
    "max_sigma": ("from 0 to 1 (0-1 units: 50/255 for 50 grey levels)", lambda v: 0 <= v <= 1),
    "lam": ("above 0 and finite (photons at full intensity)", lambda v: 0 < v < float("inf")),
    "p": ("from 0 to 1 (the fraction of pixels replaced)", lambda v: 0 <= v <= 1),
    "max_strings": ("a whole number from 1", lambda v: v >= 1 and v.is_integer()),  # inf: False
    "font_size": ("a whole number from 1 (pixels)", lambda v: v >= 1 and v.is_integer()),
}


def params_words(params: dict[str, float]) -> str:
    """A noise's parameters as people say them, sigmas in grey levels of 255 (held in 0-1 units):
    'sigma 25/255', 'max_sigma 50/255', 'lam 30'; '' for none."""
    return ", ".join(f"{k} {v * 255:g}/255" if "sigma" in k else f"{k} {v:g}" for k, v in params.items())


def unknown_parameters_words(owner: str, unknown: list[str], known: list[str]) -> str:
    """The error for parameter names that `owner` (a noise, a classical method) does not take, the
    names in words: "tv has no parameter size; its parameter is weight"."""
    return (f"{owner} has no parameter{'s' * (len(unknown) > 1)} {', '.join(unknown)}; "
            f"its parameter{'s are' if len(known) > 1 else ' is'} {', '.join(known)}")


def noise_params(name: str, **params: float) -> dict[str, float]:
    """The full parameter set of a noise model: its defaults, overridden by `params`.
    Unknown names and unknown parameters are errors that list the choices; a value outside
    its range (PARAM_RANGES; NaN is outside every range) is an error that states the range."""
    if name not in NOISE_MODELS:
        raise ValueError(f"unknown noise {name!r}; choose one of {', '.join(sorted(NOISE_MODELS))}")
    unknown = sorted(set(params) - set(DEFAULT_PARAMS[name]))
    if unknown:  # names in words, as the CLI's --noise-param takes them: 'lam', not "['lam']"
        raise ValueError(unknown_parameters_words(f"noise {name!r}", unknown, sorted(DEFAULT_PARAMS[name])))
    for key, value in params.items():
        words, fits = PARAM_RANGES[key]
        if not fits(float(value)):
            raise ValueError(f"noise {name!r}: {key}={value:g} is outside its range: {words}")
    return {**DEFAULT_PARAMS[name], **params}


def get_noise(name: str, **params: float) -> NoiseFn:
    """A noise function `f(clean_uint8, generator) -> noisy_uint8` chosen by name."""
    full = noise_params(name, **params)
    fn = NOISE_MODELS[name]
    return lambda clean, generator: fn(clean, generator, **full)
