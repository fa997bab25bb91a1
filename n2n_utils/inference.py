"""Running a trained network: `predict` on image tensors of any size with values 0-255 (uint8,
or floats holding 0-255; it returns float 0-1), with an optional test-time ensemble, and the
tiled denoising of one's own images (`denoise_array`) and image files (`denoise_file`;
n2n_utils.images reads, checks and writes the files).

Arrays here are numpy images as n2n_utils.images has them: H x W (grey) or H x W x C with
C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA); dtype uint8 (0-255) or uint16 (0-65535).
The network sees float 0-1 (uint8 / 255, uint16 / 65535) and its output is scaled back and
rounded to the input's dtype.

- Tiling: the image is cut into `tile` x `tile` tiles that overlap by `overlap` pixels, each
  goes through `predict` alone, and overlaps are blended with a raised-cosine window
  (weights of two neighbours sum to 1), so no seam shows and the network's memory is bounded
  by the tile, not the image (besides the input and output arrays, one band of tile rows is
  held in float32). Tiles start on multiples of 32: the network is translation-equivariant
  only for shifts by its 32-px pooling grid. A tile sees only its own pixels, so within about
  64 px of a tile edge the output differs slightly from one pass over the whole image: at
  most 1.5e-2 in 0-1 units (about 4 uint8 levels) with the shipped weights, below 1e-4
  farther in (measured and pinned in tests/test_inference.py). An image no larger than one
  tile goes through in one pass and equals `predict` up to the rounding to its dtype.
- Grey (and grey + alpha): the network learned colour noise, independent in R, G and B. Grey
  replicated into three equal channels (GREY_PLAIN) carries the same noise in all three, which
  the weights read as another noise: the blind weights leave it almost as it is, and the
  sigma-25 weights denoise it best near 15/255 (seemingly taking grey noise of sigma s for colour
  noise of about s * sqrt(3)). So a grey image may go in shifted by a pixel or two in each
  channel (GREY_SHIFT1: (0, 0), (0, 1), (1, 0); GREY_SHIFT2: by 2), which makes the noise at one
  place differ between channels; the three outputs are shifted back and averaged
  (`shift_channels`, `unshift_mean`; the border is replicated, and a channel's pixels from
  beyond the image are left out of the mean). Still one network pass per tile, as plain: the
  shifts are a pad and three slices of the tile. `grey_shifts` picks the feed from the
  weights' noise and the noise level (benchmarks/grey.py: grey photos, sigma 5-50/255, mean
  PSNR): blind weights: GREY_SHIFT2, better than plain at every level and on every photo (+0.6
  dB at 5/255, +3.3 at 10, +6.8 at 25, +9.0 at 50); weights trained at one sigma s_w:
  GREY_SHIFT1 from PLAIN_BELOW * s_w (20.5/255 for 25) up, GREY_PLAIN below (sigma-25 weights:
  plain 2.4-3.1 dB better at 5-15/255, shift 1 2.8-4.6 dB better at 25-50); other noises:
  GREY_PLAIN (not measured). Grey BM3D still beats the best feed, by 0.3-2.3 dB.
  `denoise_array` takes the shifts (default GREY_PLAIN, the mean of the replicated colour
  output); the CLI and the explorer pass `grey_shifts`' choice.
- Alpha is copied through untouched.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .augment import members
from .config import OptionError, autocast, resolve_device, resolve_precision
from .images import SCALE, check_array, check_output, check_paths, read_image, write_image
from .models import MULTIPLE

TILE = 256
OVERLAP = 32

# How a grey image goes in: the (dy, dx) pixel shift of the grey image in each of R, G and B.
Shifts = tuple[tuple[int, int], ...]
GREY_PLAIN: Shifts = ((0, 0), (0, 0), (0, 0))   # three equal channels: the same noise in each
GREY_SHIFT1: Shifts = ((0, 0), (0, 1), (1, 0))  # neighbours' noise in each channel: independent
GREY_SHIFT2: Shifts = ((0, 0), (0, 2), (2, 0))
# Weights trained at one sigma s_w take grey noise of sigma s fed plain about as colour noise of
# s * sqrt(3) (right for s near s_w / sqrt(3)), fed shifted as colour noise of s. For the sigma-25
# weights plain was better up to 20/255 and shift 1 from 22/255 (shift 1's gain in mean PSNR,
# benchmarks/grey.py --config crossover: -1.44 dB at 18, -0.21 at 20, +1.09 at 22): the feed
# changes at 0.82 s_w (20.5/255).
PLAIN_BELOW = 0.82


# --------------------------------------------------------------------------- tensors


def pad_to_multiple(x: torch.Tensor, multiple: int = MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to a multiple of `multiple` (replicate where the image is too
    small to reflect). Returns the padded batch and the original (H, W) to crop back to."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 256,
            device: torch.device | str | None = None, precision: str = "fp32",
            ensemble: tuple[str, ...] = ()) -> torch.Tensor:
    """Denoise (N, C, H, W) images of any size with values 0-255 (uint8, or a float dtype holding
    0-255: a float image in 0-1 must be multiplied by 255 first, or it is read as near black);
    returns float 0-1 on the CPU.

    Sides that are not multiples of 32 are reflect-padded and cropped back. Runs in eval mode,
    channels_last (the layout benchmarks/ measures), in batches of
    `batch_size` so memory stays bounded. `precision` "fp32" (the default, used for every
    reported score), "bf16"/"fp16", or "auto" (bf16 where native: faster, for applying a model).
    `ensemble`: names of augmentations (n2n_utils.augment) to average the output over, e.g.
    ("dihedral", "inversion"): the network denoises every transformed copy of the input, each
    output is transformed back, and the outputs are averaged (the self-ensemble of Lim et al.,
    2017). 16x the time for those two; only valid where the transforms keep the noise law
    (augment.ensemble_for(noise))."""
    device = torch.device(device) if device else next(model.parameters()).device
    precision = resolve_precision(precision, device)
    was_training = model.training
    model.eval()
    transforms = list(itertools.product(*(members(name) for name in ensemble)))  # [()] without one
    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].to(device).float().div_(255.0)
        x, (h, w) = pad_to_multiple(x)
        y = 0
        for chain in transforms:
            x_t = x
            for apply, _ in chain:
                x_t = apply(x_t)
            with autocast(device, precision):
                y_t = model(x_t.contiguous(memory_format=torch.channels_last)).float().clamp_(0.0, 1.0)
            for _, undo in reversed(chain):
                y_t = undo(y_t)
            y = y + y_t
        out.append((y / len(transforms))[..., :h, :w].cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


# --------------------------------------------------------------------------- grey


def shift_channels(grey: torch.Tensor, shifts: Shifts) -> torch.Tensor:
    """(N, 1, H, W) -> float (N, len(shifts), H, W), the same values: channel c at (i, j) holds
    grey at (i + dy, j + dx) for shifts[c] = (dy, dx), the border replicated beyond the image."""
    m = max(abs(v) for shift in shifts for v in shift)
    h, w = grey.shape[-2:]
    padded = F.pad(grey.float(), (m, m, m, m), mode="replicate") if m else grey.float()
    return torch.cat([padded[..., m + dy:m + dy + h, m + dx:m + dx + w] for dy, dx in shifts], dim=1)


def unshift_mean(y: torch.Tensor, shifts: Shifts) -> torch.Tensor:
    """Undo shift_channels on a network output (N, len(shifts), H, W) and average the channels
    -> (N, 1, H, W). A channel's pixels that came from beyond the image are left out of the mean."""
    m = max(abs(v) for shift in shifts for v in shift)
    h, w = y.shape[-2:]
    pad = (m, m, m, m)
    total, count = torch.zeros_like(y[:, :1]), torch.zeros_like(y[:, :1])
    inside = F.pad(torch.ones_like(y[:, :1]), pad)
    for c, (dy, dx) in enumerate(shifts):
        rows, cols = slice(m - dy, m - dy + h), slice(m - dx, m - dx + w)
        total += F.pad(y[:, c:c + 1], pad)[..., rows, cols]
        count += inside[..., rows, cols]
    return total / count


def grey_shifts(noise: str, params: dict, sigma: float | None) -> Shifts:
    """How weights trained on `noise` (their card's noise and noise_params) best take a grey
    image whose gaussian noise has standard deviation `sigma` (0-1 units; None: unknown, read
    as the weights' own level). See the module docstring for the measurements."""
    if noise == "gaussian_blind":
        return GREY_SHIFT2
    if noise == "gaussian" and "sigma" in params:
        level = params["sigma"] if sigma is None else sigma
        return GREY_PLAIN if level < PLAIN_BELOW * params["sigma"] else GREY_SHIFT1
    return GREY_PLAIN


# --------------------------------------------------------------------------- arrays


def check_tiling(tile: int, overlap: int) -> None:
    """Tiles and overlaps are multiples of 32 (the pooling grid), overlap at most half a tile
    (OptionError naming the one refused)."""
    if tile < MULTIPLE or tile % MULTIPLE:
        raise OptionError("tile", tile, f"a tile's side is a multiple of {MULTIPLE}, at least {MULTIPLE}")
    if overlap % MULTIPLE or not 0 <= overlap <= tile // 2:
        raise OptionError("overlap", overlap, f"a multiple of {MULTIPLE} from 0 to half the tile "
                          f"({tile // 2} for tile {tile})")


def _tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Starts of tiles covering [0, length): every `stride`, the last flush with the end."""
    if length <= tile:
        return [0]
    return list(range(0, length - tile, stride)) + [length - tile]


def _window(size: int, overlap: int) -> np.ndarray:
    """1 in the middle, a raised-cosine ramp over `overlap` pixels at both ends, never 0."""
    if overlap == 0:
        return np.ones(size, np.float32)
    d = np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5  # distance to the nearer end
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.minimum(d, overlap) / overlap)
    return ramp.astype(np.float32)


def _denoise_tile(model: nn.Module, crop: np.ndarray, scale: float, device: torch.device,
                  precision: str = "fp32", ensemble: tuple[str, ...] = (),
                  grey: Shifts = GREY_PLAIN) -> np.ndarray:
    """One H x W x k tile (k = 1 or 3, uint8 or uint16) -> float32 H x W x k in 0-1."""
    x = torch.from_numpy(crop.copy()).permute(2, 0, 1)[None]  # (1, k, h, w); a copy: the image may be read-only
    x = shift_channels(x, grey) if x.shape[1] == 1 else x     # grey -> RGB
    x = x.float().mul_(255.0 / scale) if scale != 255.0 else x  # predict takes values 0-255
    y = predict(model, x, device=device, precision=precision, ensemble=ensemble)  # (1, 3, h, w), float 0-1
    y = unshift_mean(y, grey) if crop.shape[2] == 1 else y
    return y[0].permute(1, 2, 0).numpy()


def denoise_array(model: nn.Module, image: np.ndarray, tile: int = TILE, overlap: int = OVERLAP,
                  device: str | torch.device | None = None, progress: bool = False,
                  desc: str | None = None, precision: str = "fp32", ensemble: tuple[str, ...] = (),
                  grey: Shifts = GREY_PLAIN) -> np.ndarray:
    """Denoise a uint8 (0-255) or uint16 (0-65535) image H x W or H x W x C (C = 1 to 4, see
    the module docstring); returns a new array of the same shape and dtype.

    tile, overlap: multiples of 32, overlap <= tile / 2. Memory grows with the tile and with
    one band of tile rows, not with the image.
    device: where the network runs ("auto", "cpu", "cuda" ...); the model is moved there.
        None: wherever the model already is.
    precision: "fp32", or "auto"/"bf16" for about 1.6x the speed on a CPU with native bf16
        (benchmarks/: the PSNR moves by under 0.01 dB).
    ensemble: a test-time ensemble (`predict`), e.g. augment.ensemble_for("gaussian"):
        better on held-out photos (notebook 06 measures it) for 16x the time.
    grey: for a grey image (with or without alpha), the shift of the grey image in each of the
        network's three channels: GREY_PLAIN, GREY_SHIFT1, GREY_SHIFT2 (`grey_shifts` picks one
        for the weights and the noise level); colour images ignore it.
    """
    check_array(image)
    check_tiling(tile, overlap)
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    model.to(device)

    img = image[..., None] if image.ndim == 2 else image
    k = 3 if img.shape[2] >= 3 else 1                 # colour channels; the rest is alpha
    scale = SCALE[image.dtype]
    h, w = img.shape[:2]
    hp, wp = math.ceil(h / MULTIPLE) * MULTIPLE, math.ceil(w / MULTIPLE) * MULTIPLE
    th, tw = min(tile, hp), min(tile, wp)             # tiles are never larger than the image
    ys = _tile_starts(hp, th, tile - overlap)
    xs = _tile_starts(wp, tw, tile - overlap)
    window = _window(th, overlap)[:, None, None] * _window(tw, overlap)[None, :, None]

    out = np.empty_like(img)
    out[..., k:] = img[..., k:]
    carry_acc = np.zeros((0, w, k), np.float32)       # blended rows shared with the next band
    carry_weight = np.zeros((0, w, 1), np.float32)
    bar = tqdm(total=len(ys) * len(xs), disable=not progress, desc=desc, unit="tile", leave=False)
    for i, y0 in enumerate(ys):
        y1 = min(y0 + th, h)
        acc = np.zeros((y1 - y0, w, k), np.float32)
        weight = np.zeros((y1 - y0, w, 1), np.float32)
        acc[:len(carry_acc)] += carry_acc
        weight[:len(carry_weight)] += carry_weight
        for x0 in xs:
            x1 = min(x0 + tw, w)
            win = window[:y1 - y0, :x1 - x0]
            acc[:, x0:x1] += win * _denoise_tile(model, img[y0:y1, x0:x1, :k], scale, device, precision,
                                                  ensemble, grey)
            weight[:, x0:x1] += win
            bar.update(1)
        done = ys[i + 1] - y0 if i + 1 < len(ys) else y1 - y0  # rows no later tile touches
        blended = acc[:done] / weight[:done]
        out[y0:y0 + done, :, :k] = np.rint(blended * scale).clip(0, scale).astype(image.dtype)
        carry_acc, carry_weight = acc[done:], weight[done:]
    bar.close()
    return out.reshape(image.shape)


def denoise_file(in_path: str | Path, out_path: str | Path, model: nn.Module,
                 overwrite: bool = False, tile: int = TILE, overlap: int = OVERLAP,
                 device: str | torch.device | None = None, progress: bool = False,
                 precision: str = "fp32", ensemble: tuple[str, ...] = (), grey: Shifts = GREY_PLAIN,
                 decoded: tuple[np.ndarray, dict] | None = None) -> Path:
    """Denoise one image file into `out_path` (written atomically: a crash leaves no half
    file). The input is never modified, unless it is also the output and `overwrite` is set.
    `decoded`: `read_image(in_path)`'s result when the caller has read it already (to choose
    `grey` from the pixels): the file is not decoded again."""
    check_paths(in_path, out_path, overwrite)
    image, info = read_image(in_path) if decoded is None else decoded
    check_output(out_path, image.dtype, image.shape[2] if image.ndim == 3 else 1)
    denoised = denoise_array(model, image, tile, overlap, device, progress, desc=Path(in_path).name,
                             precision=precision, ensemble=ensemble, grey=grey)
    return write_image(out_path, denoised, info)
