"""Image files and the arrays they hold: reading, checking and writing the images that
`n2n denoise` and notebook 07 take and give. No network here (that is n2n_utils.inference).

Arrays here are numpy images H x W (grey) or H x W x C with C = 1 (grey), 2 (grey + alpha),
3 (RGB) or 4 (RGBA); dtype uint8 (0-255) or uint16 (0-65535). SCALE is each dtype's full scale:
image / SCALE is in 0-1.

- Files are read with Pillow (modes L, LA, RGB, RGBA, I;16). Colour 16-bit is read and written
  as TIFF only, with tifffile: Pillow would silently keep only the high 8 bits. Refused, with a
  one-line ImageError: palette images (their colours are indices into a table that denoising
  cannot keep; convert to RGB first), CMYK and other colour spaces, 1-bit, 32-bit and float
  images, animations and multi-page files, 16-bit colour PNG, and images over MAX_PIXELS. A
  JPEG that Pillow reads as MPO (many phones and cameras append a preview, a depth map or an
  HDR gain map to the photo) is its first image, the photo every viewer shows, as in training.
- Outputs: the folder is checked writable (by making a scratch file) before any computing, a
  failed write names the output, and an EXIF orientation the output's format cannot carry
  (BMP, 16-bit colour TIFF) is applied to the pixels instead, so the output displays upright.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .files import check_writable, write_atomic

MAX_PIXELS = 100_000_000  # 100 megapixels; beyond, the uint8/uint16 arrays alone pass 1 GB
U8, U16 = np.dtype(np.uint8), np.dtype(np.uint16)
SCALE = {U8: 255.0, U16: 65535.0}  # image / SCALE is in 0-1 (what the network sees)
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


# --------------------------------------------------------------------------- arrays


def _check_size(h: int, w: int) -> None:
    if h * w > MAX_PIXELS:
        raise ImageError(f"the image has {h * w / 1e6:.1f} megapixels ({w}x{h}), over the limit "
                         f"of {MAX_PIXELS / 1e6:g} megapixels")


def check_array(image: np.ndarray) -> None:
    """Refuse, with an ImageError, what is not an image array this package handles: uint8 or
    uint16, H x W or H x W x C with C in CHANNELS, not empty, at most MAX_PIXELS."""
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


def rgb8(image: np.ndarray) -> np.ndarray:
    """Any image array here (uint8 or uint16; grey, grey + alpha, RGB or RGBA) as uint8 RGB
    H x W x 3, 0-255: grey repeated into three channels, alpha dropped (not composited), and a
    16-bit sample's top 8 bits kept (v >> 8, so 65535 -> 255 and 257 k -> k). That is the rule
    Pillow applies to 16-bit colour, the only way a 16-bit colour PNG can be read here, so a
    16-bit file gives the same pixels whatever its format, as training photo (data.folders)
    and in the explorer alike. The input is left as it is."""
    x = image[..., None] if image.ndim == 2 else image
    x = x[..., :3] if x.shape[2] >= 3 else np.repeat(x[..., :1], 3, axis=2)
    if x.dtype == U16:
        x = x >> 8
    return np.array(x, dtype=np.uint8)  # a new array, never a view of `image`


# --------------------------------------------------------------------------- reading


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
        raise ImageError(f"{path}: is a folder, not an image file; give its images ({path / '*.png'}, say) "
                         f"and -o for a folder of results")
    try:
        with warnings.catch_warnings():  # MAX_PIXELS below is our limit; Pillow's warns at 89 MP
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: {_describe_unidentified(path)}") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{path}: the image is over the limit of {MAX_PIXELS / 1e6:g} megapixels") from None
    except OSError as err:  # no permission ... (err.strerror), or a header Pillow refuses (str(err))
        raise ImageError(f"{path}: cannot read: {err.strerror or err}") from None
    if im.mode not in PIL_MODES:
        im.close()
        hint = " (palette colours are indices; convert to RGB first)" if im.mode in ("P", "PA") else ""
        raise ImageError(f"{path}: unsupported image mode {im.mode!r}{hint}; supported: grey, "
                         f"grey + alpha, RGB, RGBA (8-bit), grey 16-bit, RGB(A) 16-bit TIFF")
    if getattr(im, "n_frames", 1) > 1 and im.format != "MPO":  # MPO: the photo, then previews or a gain map
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
        try:  # a PNG's EXIF may follow the pixels: getexif reads, and decodes, the whole file
            info = {k: im.info[k] for k in KEPT_INFO if k in im.info}
            info["orientation"] = int(im.getexif().get(ORIENTATION, 1))
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


# --------------------------------------------------------------------------- writing


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
        bits = np.dtype(dtype).itemsize * 8
        raise ImageError(f"{out_path}: {fmt} cannot hold {'an' if bits == 8 else 'a'} {bits}-bit "
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
