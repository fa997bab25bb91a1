"""Running a trained network: `predict` on uint8 image tensors of any size, with an optional
test-time ensemble, and the tiled denoising of one's own images and image files.

Arrays here are numpy images H x W (grey) or H x W x C with C = 1 (grey), 2 (grey + alpha),
3 (RGB) or 4 (RGBA); dtype uint8 (0-255) or uint16 (0-65535). The network sees float 0-1
(uint8 / 255, uint16 / 65535) and its output is scaled back and rounded to the input's dtype.

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
- Grey: the channel is replicated to RGB (the network's input) and the three output channels
  are averaged back. The network was trained on colour noise independent per channel, so on
  grey noise (the same in all three channels) it denoises somewhat less than on colour.
- Alpha is copied through untouched.
- Files are read with Pillow (modes L, LA, RGB, RGBA, I;16). Colour 16-bit is read and written
  as TIFF only, with tifffile: Pillow would silently keep only the high 8 bits. Refused, with a
  one-line ImageError: palette images (their colours are indices into a table that denoising
  cannot keep; convert to RGB first), CMYK and other colour spaces, 1-bit, 32-bit and float
  images, animations and multi-page files, 16-bit colour PNG, and images over MAX_PIXELS.
- Outputs: the folder is checked writable (by making a scratch file) before any computing, a
  failed write names the output, and an EXIF orientation the output's format cannot carry
  (BMP, 16-bit colour TIFF) is applied to the pixels instead, so the output displays upright.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import nn
from tqdm import tqdm

from .augment import members
from .config import autocast, resolve_device, resolve_precision
from .files import check_writable, write_atomic
from .models import MULTIPLE

MAX_PIXELS = 100_000_000  # 100 megapixels; beyond, the uint8/uint16 arrays alone pass 1 GB
TILE = 256
OVERLAP = 32
U8, U16 = np.dtype(np.uint8), np.dtype(np.uint16)
SCALE = {U8: 255.0, U16: 65535.0}  # the network sees image / SCALE, in 0-1
CHANNELS = {1: "grey", 2: "grey + alpha", 3: "RGB", 4: "RGBA"}
PIL_MODES = {"L": U8, "LA": U8, "RGB": U8, "RGBA": U8, "I;16": U16, "I;16L": U16, "I;16B": U16}
_TIFF = ("TIFF", {(1, U8), (2, U8), (3, U8), (4, U8), (1, U16), (3, U16), (4, U16)})
_JPEG = ("JPEG", {(1, U8), (3, U8)})
WRITE_FORMATS = {  # extension: (format, the (channels, dtype) it holds as they are)
    ".png": ("PNG", {(1, U8), (2, U8), (3, U8), (4, U8), (1, U16)}),  # Pillow: no 16-bit colour
    ".tif": _TIFF, ".tiff": _TIFF,
    ".jpg": _JPEG, ".jpeg": _JPEG,
    ".webp": ("WEBP", {(3, U8), (4, U8)}),
    ".bmp": ("BMP", {(1, U8), (3, U8)}),
}
KEPT_INFO = ("icc_profile", "exif", "dpi")  # carried from input to output where the format allows
EXIF_FORMATS = ("PNG", "TIFF", "JPEG", "WEBP")  # Pillow writes an EXIF block in these
ORIENTATION = 0x0112  # the EXIF tag saying how to turn the stored pixels for display


class ImageError(ValueError):
    """An image cannot be read, denoised or written. The message is one line naming the file."""


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
    """Denoise uint8 (N, C, H, W) images of any size; returns float 0-1 on the CPU.

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


# --------------------------------------------------------------------------- arrays


def _check_size(h: int, w: int) -> None:
    if h * w > MAX_PIXELS:
        raise ImageError(f"the image has {h * w / 1e6:.1f} megapixels ({w}x{h}), over the limit "
                         f"of {MAX_PIXELS / 1e6:.0f}")


def _check_array(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype not in SCALE:
        raise ImageError(f"images must be uint8 or uint16 numpy arrays, got "
                         f"{getattr(image, 'dtype', type(image).__name__)}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in CHANNELS):
        raise ImageError(f"images must be H x W or H x W x C with C in {sorted(CHANNELS)}, "
                         f"got shape {image.shape}")
    h, w = image.shape[:2]
    if h * w == 0:
        raise ImageError(f"the image is empty (shape {image.shape})")
    _check_size(h, w)


def check_tiling(tile: int, overlap: int) -> None:
    """Tiles and overlaps are multiples of 32 (the pooling grid), overlap at most half a tile."""
    if tile < MULTIPLE or tile % MULTIPLE or overlap % MULTIPLE or not 0 <= overlap <= tile // 2:
        raise ValueError(f"tile and overlap must be multiples of {MULTIPLE} with tile >= {MULTIPLE} "
                         f"and 0 <= overlap <= tile / 2; got tile={tile}, overlap={overlap}")


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
                  precision: str = "fp32", ensemble: tuple[str, ...] = ()) -> np.ndarray:
    """One H x W x k tile (k = 1 or 3, uint8 or uint16) -> float32 H x W x k in 0-1."""
    x = torch.from_numpy(crop.copy()).permute(2, 0, 1)[None]  # (1, k, h, w); a copy: the image may be read-only
    x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x        # grey -> RGB
    x = x.float().mul_(255.0 / scale) if scale != 255.0 else x  # predict takes values 0-255
    y = predict(model, x, device=device, precision=precision, ensemble=ensemble)  # (1, 3, h, w), float 0-1
    y = y.mean(1, keepdim=True) if crop.shape[2] == 1 else y
    return y[0].permute(1, 2, 0).numpy()


def denoise_array(model: nn.Module, image: np.ndarray, tile: int = TILE, overlap: int = OVERLAP,
                  device: str | torch.device | None = None, progress: bool = False,
                  desc: str | None = None, precision: str = "fp32", ensemble: tuple[str, ...] = ()) -> np.ndarray:
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
    """
    _check_array(image)
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
                                                  ensemble)
            weight[:, x0:x1] += win
            bar.update(1)
        done = ys[i + 1] - y0 if i + 1 < len(ys) else y1 - y0  # rows no later tile touches
        blended = acc[:done] / weight[:done]
        out[y0:y0 + done, :, :k] = np.rint(blended * scale).clip(0, scale).astype(image.dtype)
        carry_acc, carry_weight = acc[done:], weight[done:]
    bar.close()
    return out.reshape(image.shape)


# --------------------------------------------------------------------------- files


def _png_bit_depth(path: Path) -> int:
    """Bit depth from a PNG's IHDR chunk (byte 24 of the file, by the PNG specification)."""
    with open(path, "rb") as f:
        header = f.read(26)
    return header[24] if len(header) == 26 else 8


def _describe_unidentified(path: Path) -> str:
    """Why Pillow could not open `path`: a TIFF whose samples it cannot read (float, 32-bit ...)
    is an unsupported image, not 'not an image'."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF and BigTIFF
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                kind = {1: "unsigned integer", 2: "signed integer", 3: "floating-point"}.get(
                    int(page.sampleformat), "unusual")
                return (f"unsupported TIFF: {page.bitspersample}-bit {kind} samples, {page.samplesperpixel} "
                        f"per pixel; supported: 8-bit grey, grey + alpha, RGB, RGBA, 16-bit grey or RGB(A)")
        except Exception:  # a damaged header: fall through to the plain answer
            pass
    return "not an image (Pillow cannot identify it)"


def _open(path: Path) -> Image.Image:
    """Open with Pillow (header only) and refuse what denoising cannot handle."""
    if not path.exists():
        raise ImageError(f"{path}: file not found")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file")
    try:
        with warnings.catch_warnings():  # MAX_PIXELS below is our limit; Pillow's warns at 89 MP
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: {_describe_unidentified(path)}") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: the image is over the limit of {MAX_PIXELS / 1e6:.0f} megapixels") from None
    except OSError as err:
        raise ImageError(f"{path}: cannot open: {err}") from None
    if im.mode not in PIL_MODES:
        im.close()
        hint = " (palette colours are indices; convert to RGB first)" if im.mode in ("P", "PA") else ""
        raise ImageError(f"{path}: unsupported image mode {im.mode!r}{hint}; supported: grey, "
                         f"grey + alpha, RGB, RGBA (8-bit), grey 16-bit, RGB(A) 16-bit TIFF")
    if getattr(im, "n_frames", 1) > 1:
        im.close()
        raise ImageError(f"{path}: has {im.n_frames} frames or pages; only single images are supported")
    try:
        _check_size(im.size[1], im.size[0])
    except ImageError as err:
        im.close()
        raise ImageError(f"{path}: {err}") from None
    if im.format == "PNG" and im.mode in ("RGB", "RGBA") and _png_bit_depth(path) == 16:
        im.close()
        raise ImageError(f"{path}: 16-bit colour PNG is not supported (Pillow reads only its high "
                         f"8 bits); save it as a 16-bit TIFF")
    return im


def _is_16bit_colour_tiff(im: Image.Image) -> bool:
    return im.format == "TIFF" and im.mode in ("RGB", "RGBA") and max(im.tag_v2.get(258, (8,))) == 16


def probe_image(path: str | Path) -> tuple[int, int, int, np.dtype]:
    """(height, width, channels, dtype) from the file's header, refusing what `read_image`
    would refuse, without decoding the pixels."""
    with _open(Path(path)) as im:
        dtype = U16 if _is_16bit_colour_tiff(im) else PIL_MODES[im.mode]
        return im.size[1], im.size[0], len(im.getbands()), dtype


def read_image(path: str | Path) -> tuple[np.ndarray, dict]:
    """An image file as a uint8 or uint16 array H x W or H x W x C, plus the metadata worth
    carrying to the output (ICC profile, EXIF, dpi)."""
    path = Path(path)
    with _open(path) as im:
        info = {k: im.info[k] for k in KEPT_INFO if k in im.info}
        info["orientation"] = int(im.getexif().get(ORIENTATION, 1))
        try:
            if _is_16bit_colour_tiff(im):
                import tifffile

                array = tifffile.imread(path)
            else:
                array = np.array(im).astype(PIL_MODES[im.mode], copy=False)  # I;16B -> native
        except Exception as err:  # truncated files, missing codecs ... take many forms
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ImageError(f"{path}: cannot decode: {detail}") from None
        size = im.size[::-1]
    if array.shape[:2] != size or array.ndim == 3 and array.shape[2] not in CHANNELS:
        raise ImageError(f"{path}: unsupported layout {array.shape} for a {size[1]}x{size[0]} image "
                         f"(planar or extra samples)")
    return array, info


def check_output(out_path: str | Path, dtype: np.dtype | None = None, channels: int | None = None) -> str:
    """The format to write `out_path` in; ImageError when the extension is unknown, the folder
    cannot be written, or the format cannot hold the image as it is (16-bit colour needs TIFF,
    JPEG has no alpha ...). dtype/channels: the image's, when known."""
    out_path = Path(out_path)
    if out_path.suffix.lower() not in WRITE_FORMATS:
        raise ImageError(f"{out_path}: unknown output extension {out_path.suffix!r}; choose one of "
                         f"{', '.join(sorted(WRITE_FORMATS))}")
    fmt, holds = WRITE_FORMATS[out_path.suffix.lower()]
    if out_path.is_dir():
        raise ImageError(f"{out_path}: is a folder; name an output file")
    try:
        check_writable(out_path)
    except OSError as err:
        raise ImageError(str(err)) from None
    if dtype is not None and channels is not None and (channels, np.dtype(dtype)) not in holds:
        able = sorted(ext for ext, (_, h) in WRITE_FORMATS.items() if (channels, np.dtype(dtype)) in h)
        raise ImageError(f"{out_path}: {fmt} cannot hold a {np.dtype(dtype).itemsize * 8}-bit "
                         f"{CHANNELS[channels]} image; write {', '.join(able)} instead")
    return fmt


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels H x W (x C) turned as EXIF `orientation` (1-8) says to display them."""
    turns = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, -1)[::-1],
             8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turns.get(orientation, turns[1])(image))


def write_image(out_path: str | Path, image: np.ndarray, info: dict | None = None) -> Path:
    """Write a uint8/uint16 array atomically, in the format its extension names. `info` (from
    read_image) carries ICC profile, EXIF and dpi where the format holds them; where the EXIF
    orientation would be lost (BMP, 16-bit colour TIFF, an orientation from TIFF tags), the
    pixels are written upright instead, so the output displays as the input did. A failed
    write (disk full ...) is an ImageError naming the output."""
    channels = image.shape[2] if image.ndim == 3 else 1
    fmt = check_output(out_path, image.dtype, channels)
    info = dict(info or {})
    orientation = info.pop("orientation", 1)
    colour16 = image.dtype == np.uint16 and channels >= 3
    if orientation != 1 and (colour16 or fmt not in EXIF_FORMATS or "exif" not in info):
        image = upright(image, orientation)
        info.pop("exif", None)
    try:
        if colour16:
            import tifffile

            return write_atomic(out_path, lambda tmp: tifffile.imwrite(
                tmp, image, photometric="rgb", iccprofile=info.get("icc_profile")))
        pil = Image.fromarray(image[..., 0] if image.ndim == 3 and channels == 1 else image)
        options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        options.update(info)  # formats that cannot hold a key ignore it
        return write_atomic(out_path, lambda tmp: pil.save(tmp, format=fmt, **options))
    except OSError as err:
        raise ImageError(f"{out_path}: cannot write: {err.strerror or err}") from None


def check_paths(in_path: str | Path, out_path: str | Path, overwrite: bool = False) -> None:
    """Refuse, before any work, an output that is the input or exists already (unless
    `overwrite`), or that cannot be written (see check_output)."""
    in_path, out_path = Path(in_path), Path(out_path)
    same = out_path.resolve() == in_path.resolve() or (
        out_path.exists() and in_path.exists() and os.path.samefile(in_path, out_path))
    if same and not overwrite:
        raise ImageError(f"{out_path}: is the input file; pass overwrite (--overwrite) to replace it")
    if out_path.is_file() and not overwrite:
        raise ImageError(f"{out_path}: exists; pass overwrite (--overwrite) to replace it")
    check_output(out_path)


def denoise_file(in_path: str | Path, out_path: str | Path, model: nn.Module,
                 overwrite: bool = False, tile: int = TILE, overlap: int = OVERLAP,
                 device: str | torch.device | None = None, progress: bool = False,
                 precision: str = "fp32", ensemble: tuple[str, ...] = ()) -> Path:
    """Denoise one image file into `out_path` (written atomically: a crash leaves no half
    file). The input is never modified, unless it is also the output and `overwrite` is set."""
    check_paths(in_path, out_path, overwrite)
    image, info = read_image(in_path)
    check_output(out_path, image.dtype, image.shape[2] if image.ndim == 3 else 1)
    denoised = denoise_array(model, image, tile, overlap, device, progress, desc=Path(in_path).name,
                             precision=precision, ensemble=ensemble)
    return write_image(out_path, denoised, info)
