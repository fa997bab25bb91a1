"""The command line's argument types: each turns one option's text into its value or refuses
it (argparse.ArgumentTypeError: the usage, one line naming the option, status 2). Rules on
values that the library uses too live with the library and raise config.OptionError, which
n2n_utils.__main__ shows the same way."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def path_text_option(text: str) -> str:
    """A file or folder option, kept as text (-o's trailing slash says "a folder"): refuse the
    empty string, which Path reads as the current folder (`-o ""` wrote into the folder the
    command ran in, `--checkpoint ""` said that "." is a folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: name a file or a folder")
    return text


def path_option(text: str) -> Path:
    """A file or folder option as a Path: `path_text_option`'s check."""
    return Path(path_text_option(text))


def noise_param_option(text: str) -> tuple[str, float]:
    """--noise-param NAME=VALUE: one parameter of the training noise, a sigma in grey levels of
    255 as denoise's --sigma takes it ('sigma=15' is 15/255 to the noise model), the others as
    the model holds them ('lam=10', 'p=0.1'). Names and ranges are the noise model's to check."""
    name, _, value = text.partition("=")
    name = name.strip()
    try:
        if not name:
            raise ValueError(text)
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=VALUE, e.g. sigma=15 (in grey levels of 255) "
                                         f"or lam=10") from None
    if "sigma" in name:
        return name, sigma_255(text, number) / 255
    return name, number


def db_option(text: str) -> float:
    """A PSNR in dB (--val-psnr-noisy): a finite number; NaN or inf would go on the card as a score."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a PSNR in dB, a finite number (e.g. 20.3)")
    return value


def sigma_255(text: str, value: float) -> float:
    """A noise sigma given in grey levels of 255 (--sigma 25, --noise-param sigma=15): 0 (no
    noise), or from 1 up to (not including) 255. One between 0 and 1 is refused: it is almost
    surely in 0-1 units (0.1 for 25.5/255), and read in 1/255 it would be under one grey level,
    picking other weights or training on next to no noise without a word."""
    if 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a sigma in grey levels of 255, and {value:g} is under one; "
                                         f"for {value:g} in 0-1 units give {value * 255:.4g}")
    if not 0 <= value < 255:  # NaN too
        raise argparse.ArgumentTypeError(f"{text!r}: a sigma in grey levels of 255, 0 or from 1 to under 255 "
                                         f"(e.g. 25)")
    return value


def sigma_option(text: str) -> float | str:
    """--sigma: "auto", or a noise level in 1/255 (`sigma_255`)."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give the noise level in 1/255 (e.g. 25), or auto") from None
    return sigma_255(text, value)
