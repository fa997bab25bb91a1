"""An interactive denoising explorer for JupyterLab (notebook 07), and the README's picture.

Choose an image (a shipped photo, held-out ones marked; a validation crop; or a file of your
own, of any size), a noise model, its level and a seed, and see side by side: the noisy image,
Noise2Noise (shipped weights, the test-time ensemble as a toggle), BM3D, TV and the clean
image, each with PSNR, SSIM and the seconds it took, and below them one region, enlarged, in
every panel (with its own PSNR there).

The work is done by plain functions (load_image, make_noisy, denoise_*), the picture by
plots.plot_panels, and `Explorer` wires them to ipywidgets. Its callbacks are ordinary
methods, so a test drives them without a browser, and headless (papermill, nbval) a notebook
shows `explorer.figure()`, a static figure of the current state.

Responsive on 2 CPU cores: sliders act on release; results are cached per setting, so moving
the zoom window computes nothing; the network goes through the tiled path
(inference.denoise_array), so any size fits in memory. BM3D, at 0.06-0.2 ms a pixel on one core
here (a whole photo to a 32x32 crop), runs by itself only on images up to BM3D_AUTO_PIXELS; on
larger ones the BM3D panel waits for the "Run BM3D" button, which denoises the whole image up
to BM3D_WHOLE_PIXELS and the zoom region beyond. TV, ten times faster, runs by itself up to
TV_AUTO_PIXELS, then on the region.
"""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from skimage.transform import rescale

from . import classical, metrics
from .augment import ensemble_for
from .blind import estimate_sigma
from .config import cpu_info, describe_cpu
from .data import PHOTOS, SPLITS, random_crops
from .images import read_image, rgb8, upright
from .inference import denoise_array, grey_shifts
from .noise import get_noise
from .plots import plot_panels
from .weights import DEFAULT_WEIGHTS, list_weights, load_weights, read_weights

BM3D_AUTO_PIXELS = 10_000      # BM3D runs on every change up to here (about 2 s on one core)
BM3D_WHOLE_PIXELS = 250_000    # beyond, the "Run BM3D" button denoises the zoom region only
TV_AUTO_PIXELS = 1_000_000
N_CROPS = 8                    # validation crops offered: natural32's first, seed 0
UPLOAD = "upload"              # the image choice that means the uploaded file


@dataclass(frozen=True)
class Level:
    """The one parameter of a noise model the explorer varies: its slider and its meaning."""

    label: str
    low: float
    high: float
    step: float
    default: float
    params: callable  # slider value -> noise parameters (noise.noise_params)


LEVELS = {
    "gaussian": Level("sigma (/255)", 0, 75, 1, 25, lambda v: {"sigma": v / 255}),
    "poisson": Level("photons at white", 2, 100, 1, 30, lambda v: {"lam": float(v)}),
    "impulse": Level("pixels replaced", 0, 0.6, 0.01, 0.25, lambda v: {"p": float(v)}),
    "text": Level("strings (at most)", 1, 12, 1, 4, lambda v: {"max_strings": int(v)}),
    "none": Level("no noise added", 0, 1, 1, 0, lambda v: {}),  # the image is noisy already
}


@dataclass(frozen=True)
class Settings:
    """What the explorer shows. image: a name in PHOTOS, "crop:K" (validation crop K), or
    UPLOAD; scale: photos and uploads are downscaled by it (0-1); level: see LEVELS;
    zoom_x, zoom_y: the zoom window's centre, fractions (0-1) of width and height; zoom: its side (px)."""

    image: str = "chelsea"
    scale: float = 0.5
    noise: str = "gaussian"
    level: float = 25
    seed: int = 0
    weights: str = DEFAULT_WEIGHTS
    ensemble: bool = False
    zoom_x: float = 0.45
    zoom_y: float = 0.35
    zoom: int = 48


# --------------------------------------------------------------------------- images


def image_choices() -> list[tuple[str, str]]:
    """(label, value) for the image menu: the photos (held-out ones marked), the crops, an upload."""
    photos = [(f"{name} ({'held out' if name in SPLITS['val'] else 'trained on'})", name) for name in PHOTOS]
    crops = [(f"validation crop {k} (32x32)", f"crop:{k}") for k in range(N_CROPS)]
    return [*photos, *crops, ("your file (upload)", UPLOAD)]


@lru_cache(maxsize=4)
def _photo(name: str, scale: float) -> np.ndarray:
    return to_rgb8(PHOTOS[name]()[0], scale)


@lru_cache(maxsize=1)
def _crops() -> np.ndarray:
    crops, _ = random_crops(SPLITS["val"], N_CROPS, np.random.default_rng([0, 1]))  # natural32's stream
    return crops.transpose(0, 2, 3, 1)


def to_rgb8(image: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Any image images.read_image returns (uint8/uint16, grey or colour, alpha or not) as
    uint8 RGB H x W x 3 (images.rgb8), downscaled by `scale` (antialiased) unless it is 1."""
    x = rgb8(image)
    if scale == 1:
        return x
    x = rescale(x.astype(np.float64), scale, anti_aliasing=True, channel_axis=-1, preserve_range=True)
    return np.round(x).clip(0, 255).astype(np.uint8)


def read_upload(name: str, content: bytes) -> np.ndarray:
    """An uploaded file's image, through images.read_image (the CLI's reader, its formats and
    its one-line ImageError naming the file), turned upright by its EXIF orientation (as a
    training photo is, data.folders.read_rgb8)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(name).name
        path.write_bytes(bytes(content))
        image, info = read_image(path)
    return upright(image, info["orientation"])


def load_image(settings: Settings, upload: np.ndarray | None = None) -> np.ndarray:
    """The chosen clean image, uint8 H x W x 3."""
    if settings.image == UPLOAD:
        if upload is None:
            raise ValueError("no file uploaded yet: choose one with the upload button")
        return to_rgb8(upload, settings.scale)
    if settings.image.startswith("crop:"):
        return _crops()[int(settings.image.split(":")[1])].copy()
    if settings.image not in PHOTOS:
        raise ValueError(f"unknown image {settings.image!r}; choose one of {[v for _, v in image_choices()]}")
    return _photo(settings.image, settings.scale).copy()


def make_noisy(clean: np.ndarray, noise: str, level: float, seed: int) -> np.ndarray:
    """`clean` (uint8 H x W x 3) with noise model `noise` at `level` (LEVELS), reproducible from `seed`."""
    if noise not in LEVELS:
        raise ValueError(f"unknown noise {noise!r}; choose one of {sorted(LEVELS)}")
    if noise == "none":
        return clean.copy()
    fn = get_noise(noise, **LEVELS[noise].params(level))
    x = torch.from_numpy(clean).permute(2, 0, 1)[None].contiguous()
    return fn(x, torch.Generator().manual_seed(seed))[0].permute(1, 2, 0).numpy()


def scores(image: np.ndarray, clean: np.ndarray | None) -> tuple[float | None, float | None]:
    """PSNR (dB) and SSIM of uint8 `image` against `clean`, or (None, None) without a reference."""
    if clean is None:
        return None, None
    x, y = (metrics.to_float(torch.from_numpy(a).permute(2, 0, 1)[None]) for a in (image, clean))
    return metrics.psnr(x, y), metrics.ssim(x, y) if min(image.shape[:2]) >= 7 else None  # SSIM's window: 7x7


# --------------------------------------------------------------------------- denoisers


def classical_sigma(noise: str, level: float, noisy: np.ndarray) -> float:
    """The gaussian sigma (0-1) BM3D and TV are given: the noise's own where one number describes
    it (classical.noise_sigma), else estimated from the noisy image (blind.estimate_sigma)."""
    known = classical.noise_sigma(noise, **LEVELS[noise].params(level)) if noise != "none" else None
    return known if known is not None else estimate_sigma(noisy)


def denoise_network(noisy: np.ndarray, weights: str, ensemble: bool, device: str = "cpu",
                    sigma: float | None = None) -> np.ndarray:
    """Shipped weights (by name) over uint8 H x W x 3, tiled; bf16 where the CPU has it natively.
    A grey image (three equal channels, e.g. a grey upload with no noise added) goes in as grey,
    fed as inference.grey_shifts chooses for the weights and the noise level `sigma` (0-1; None:
    unknown, taken as the weights' own; the explorer passes classical_sigma's)."""
    card = _card(weights)
    members = ensemble_for(card.get("noise", "unknown")) if ensemble else ()
    model = _model(weights, device)
    if not (np.array_equal(noisy[..., 0], noisy[..., 1]) and np.array_equal(noisy[..., 1], noisy[..., 2])):
        return denoise_array(model, noisy, precision="auto", ensemble=members)
    grey = noisy[..., :1]
    feed = grey_shifts(card.get("noise", "unknown"), card.get("noise_params") or {}, sigma)
    out = denoise_array(model, grey, precision="auto", ensemble=members, grey=feed)
    return np.repeat(out, 3, axis=2)


@lru_cache(maxsize=3)
def _model(weights: str, device: str):
    return load_weights(weights, device)


@lru_cache(maxsize=3)
def _card(weights: str) -> dict:
    """The weights' model card, read once (read_weights loads the whole file), as _model is."""
    return read_weights(weights)["card"]


def denoise_classical(method: str, noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D given `sigma` (0-1), or TV with a weight that follows it (0.08 suits 25/255), uint8 out."""
    x = torch.from_numpy(noisy).permute(2, 0, 1)[None].contiguous()
    params = {"sigma": sigma} if method == "bm3d" else {"weight": float(np.clip(0.8 * sigma, 0.02, 0.5))}
    out = classical.denoise(method, x, **params)[0].permute(1, 2, 0).numpy()
    return np.round(out * 255).astype(np.uint8)


def zoom_box(shape: tuple[int, ...], settings: Settings) -> tuple[int, int, int, int]:
    """The zoom window as (top, left, height, width) in pixels, inside an image of `shape`."""
    h, w = shape[:2]
    side_h, side_w = min(settings.zoom, h), min(settings.zoom, w)
    top = int(np.clip(round(settings.zoom_y * h - side_h / 2), 0, h - side_h))
    left = int(np.clip(round(settings.zoom_x * w - side_w / 2), 0, w - side_w))
    return top, left, side_h, side_w


# --------------------------------------------------------------------------- the explorer


def _caption(psnr: float | None, ssim: float | None, seconds: float | None) -> str:
    parts = [f"{psnr:.2f} dB" if psnr is not None else "no reference"]
    parts += [f"SSIM {ssim:.3f}"] if ssim is not None else []
    parts += [f"{seconds:.2f} s"] if seconds is not None else []
    return " · ".join(parts)


class Explorer:
    """The widgets and their callbacks. `settings` is the state shown; every control's change
    calls `on_change`, which reads the controls into `settings` and calls `update`; `panels`
    holds what the figure shows (plots.plot_panels' dicts) and `message` any error."""

    def __init__(self, settings: Settings = Settings(), device: str = "cpu"):
        import ipywidgets as w

        self.settings, self.device = settings, device
        self.upload_image: np.ndarray | None = None
        self.panels: list[dict] = []
        self.message = ""
        self._cache: dict[tuple, tuple[np.ndarray, float]] = {}
        self._bm3d_asked: set[tuple] = set()  # (image key, zoom box or None) the button asked for
        self._quiet = False  # set while one change moves other controls
        level = LEVELS[settings.noise]
        self.controls = {
            "image": w.Dropdown(options=image_choices(), value=settings.image, description="image"),
            "scale": w.Dropdown(options=[("full size", 1.0), ("1/2", 0.5), ("1/4", 0.25)], value=settings.scale,
                                description="scale"),
            "noise": w.Dropdown(options=list(LEVELS), value=settings.noise, description="noise"),
            "level": w.FloatSlider(value=settings.level, min=level.low, max=level.high, step=level.step,
                                   description="level", continuous_update=False),
            "seed": w.BoundedIntText(value=settings.seed, min=0, max=2**31 - 1, description="seed"),
            "weights": w.Dropdown(options=list_weights(), value=settings.weights, description="weights"),
            "ensemble": w.Checkbox(value=settings.ensemble, description="test-time ensemble (16x slower)",
                                   style={"description_width": "initial"}),
            "zoom_x": w.FloatSlider(value=settings.zoom_x, min=0, max=1, step=0.01, description="zoom x",
                                    continuous_update=False),
            "zoom_y": w.FloatSlider(value=settings.zoom_y, min=0, max=1, step=0.01, description="zoom y",
                                    continuous_update=False),
            "zoom": w.IntSlider(value=settings.zoom, min=16, max=128, step=8, description="zoom px",
                                continuous_update=False),
        }
        self.level_label = w.Label(level.label, layout=w.Layout(width="130px"))
        self.upload = w.FileUpload(accept="image/*,.tif,.tiff", multiple=False, description="upload")
        self.bm3d_button = w.Button(description="Run BM3D", tooltip="BM3D on the whole image, or on the zoom "
                                    f"region beyond {BM3D_WHOLE_PIXELS:,} pixels")
        self.status = w.HTML()
        # The figure as a PNG in an Image widget, not in an Output widget: displaying into an
        # Output widget while the cell runs left nbclient (papermill) waiting for the cell's reply
        # until its timeout, forever without one (the pipeline hung in notebook 07).
        self.picture = w.Image(format="png")
        for control in self.controls.values():
            control.observe(self.on_change, names="value")
        self.upload.observe(self.on_upload, names="value")
        self.bm3d_button.on_click(lambda _: self.run_bm3d())
        c = self.controls
        self.widget = w.VBox([
            w.HBox([c["image"], c["scale"], self.upload]),
            w.HBox([c["noise"], c["level"], self.level_label, c["seed"]]),
            w.HBox([c["weights"], c["ensemble"], self.bm3d_button]),
            w.HBox([c["zoom_x"], c["zoom_y"], c["zoom"]]),
            self.status, self.picture])
        self.update()

    # ---- callbacks

    def on_change(self, change: dict | None = None) -> None:
        """A control moved: read every control into `settings`; a new noise model resets the level."""
        if self._quiet:
            return
        if change is not None and change.get("owner") is self.controls["noise"]:
            self._set_level_range(LEVELS[self.controls["noise"].value])
        self.settings = replace(self.settings, **{k: c.value for k, c in self.controls.items()})
        self.update()

    def _set_level_range(self, level: Level) -> None:
        slider, self._quiet = self.controls["level"], True
        try:
            slider.max = max(slider.max, level.high)
            slider.min, slider.max, slider.step, slider.value = level.low, level.high, level.step, level.default
            self.level_label.value = level.label
        finally:
            self._quiet = False

    def on_upload(self, change: dict | None = None) -> None:
        """A file arrived: read it (any size, any format read_image takes) and show it."""
        files = self.upload.value
        if not files:
            return
        try:
            self.upload_image = read_upload(files[0]["name"], files[0]["content"])
        except ValueError as err:  # images.ImageError: one line naming the file
            self.message = str(err)
            self.status.value = f"<b>{self.message}</b>"
            return
        self._cache.clear()
        self.controls["image"].value = UPLOAD  # -> on_change -> update
        if self.settings.image == UPLOAD:  # it was chosen already: no change fired
            self.update()

    def run_bm3d(self) -> None:
        """The button: BM3D on the whole image, or on the zoom region where the image is large.
        Without an image (the upload chosen, none uploaded yet) it does nothing: `message` says why."""
        try:
            clean = load_image(self.settings, self.upload_image)
        except ValueError as err:
            self.message = str(err)
            return
        region = zoom_box(clean.shape, self.settings) if clean.shape[0] * clean.shape[1] > BM3D_WHOLE_PIXELS else None
        self._bm3d_asked.add((self._image_key(), region))
        self.update()

    # ---- computing

    def _image_key(self) -> tuple:
        s = self.settings
        upload = id(self.upload_image) if s.image == UPLOAD else None
        return (s.image, s.scale, s.noise, s.level, s.seed, upload)

    def _cached(self, key: tuple, fn) -> tuple[np.ndarray, float]:
        if key not in self._cache:
            start = time.perf_counter()
            self._cache[key] = (fn(), time.perf_counter() - start)
        return self._cache[key]

    def _classical_panel(self, method: str, label: str, noisy: np.ndarray, clean: np.ndarray | None,
                         box: tuple[int, int, int, int], sigma: float) -> dict:
        s, key = self.settings, self._image_key()
        if method == "bm3d" and s.noise not in ("gaussian", "poisson", "none"):
            return {"label": "BM3D", "image": None, "caption": f"BM3D does not suit {s.noise} noise"}
        if method == "bm3d" and min(noisy.shape[:2]) < classical.BM3D_MIN_SIDE:
            side = classical.BM3D_MIN_SIDE
            return {"label": "BM3D", "image": None, "caption": f"BM3D needs at least {side}x{side} pixels"}
        pixels = noisy.shape[0] * noisy.shape[1]
        if method == "bm3d":
            whole = pixels <= BM3D_AUTO_PIXELS or (key, None) in self._bm3d_asked
            region = None if whole else box if (key, box) in self._bm3d_asked else False
        else:
            region = None if pixels <= TV_AUTO_PIXELS else box
        if region is False:
            return {"label": label, "image": None, "caption": "press Run BM3D\n(slow on large images)"}
        if region is None:
            out, seconds = self._cached((method, key), lambda: denoise_classical(method, noisy, sigma))
            return self._panel(label, out, clean, box, seconds)
        top, left, h, w = region
        part, seconds = self._cached((method, key, region), lambda: denoise_classical(
            method, noisy[top:top + h, left:left + w], sigma))
        out = noisy.copy()
        out[top:top + h, left:left + w] = part
        panel = self._panel(label, out, clean, box, seconds)
        panel["caption"] = f"zoom region only · {seconds:.2f} s"
        return panel

    @staticmethod
    def _panel(label: str, image: np.ndarray, clean: np.ndarray | None, box, seconds: float | None) -> dict:
        top, left, h, w = box
        psnr, ssim = scores(image, clean)
        zoom_psnr, _ = scores(image[top:top + h, left:left + w],
                              None if clean is None else clean[top:top + h, left:left + w])
        return {"label": label, "image": image, "caption": _caption(psnr, ssim, seconds),
                "zoom_caption": f"zoom: {zoom_psnr:.2f} dB" if zoom_psnr is not None else "zoom",
                "psnr": psnr, "ssim": ssim, "seconds": seconds}

    def update(self) -> None:
        """Recompute what changed (the rest comes from the cache) and redraw."""
        s = self.settings
        try:
            clean = load_image(s, self.upload_image)
        except ValueError as err:
            self.panels, self.message = [], str(err)
            return self._show()
        key = self._image_key()
        self._cache = {k: v for k, v in self._cache.items() if k[1] == key}  # one image's results
        noisy, _ = self._cached(("noisy", key), lambda: make_noisy(clean, s.noise, s.level, s.seed))
        reference = None if s.noise == "none" else clean
        box = zoom_box(clean.shape, s)
        sigma = classical_sigma(s.noise, s.level, noisy)
        _model(s.weights, self.device), _card(s.weights)  # read (once) before the clock starts: the panel
        # times the denoising, not the loading of the weights or of their card
        net, seconds = self._cached(("network", key, s.weights, s.ensemble),
                                    lambda: denoise_network(noisy, s.weights, s.ensemble, self.device, sigma))
        name = "Noise2Noise" + (" + ensemble" if s.ensemble else "")
        self.panels = [
            self._panel("noisy" if reference is not None else "your image", noisy, reference, box, None),
            self._panel(name, net, reference, box, seconds),
            self._classical_panel("bm3d", f"BM3D (sigma {sigma * 255:.1f}/255)", noisy, reference, box, sigma),
            self._classical_panel("tv", "TV", noisy, reference, box, sigma),
        ]
        if reference is not None:
            self.panels.append({**self._panel("clean", clean, None, box, None), "caption": "the reference"})
        self.message = ""
        self._show()

    # ---- showing

    def title(self) -> str:
        s = self.settings
        level = "" if s.noise == "none" else f" {LEVELS[s.noise].label} {s.level:g}"
        return f"{s.image} (scale {s.scale:g}), {s.noise}{level}, seed {s.seed}, weights {s.weights}"

    def figure(self):
        """The current state as a matplotlib Figure (what the notebook saves headless)."""
        if not self.panels:
            raise ValueError(self.message or "nothing to show")
        shape = self.panels[0]["image"].shape
        return plot_panels(self.panels, zoom_box(shape, self.settings), title=self.title())

    def _show(self) -> None:
        import io

        import matplotlib.pyplot as plt

        self.status.value = f"<b>{self.message}</b>" if self.message else self.title()
        if not self.panels:
            return
        fig, png = self.figure(), io.BytesIO()
        fig.savefig(png, format="png", bbox_inches="tight")
        plt.close(fig)
        self.picture.value = png.getvalue()


# --------------------------------------------------------------------------- the README picture


README_FIGURE = "n2n_vs_bm3d"  # figures/readme/<this>.png


def readme_figure(photo: str = "chelsea", sigma_255: float = 25, seed: int = 0, scale: float = 1.0):
    """The README's picture: a held-out photo with gaussian noise, denoised by the shipped weights
    and by BM3D (given the true sigma), beside the clean photo, with PSNR, SSIM and the seconds
    each took on one core, and their ratio on this CPU in the title. Returns (figure, numbers)."""
    clean = load_image(Settings(image=photo, scale=scale))
    noisy = make_noisy(clean, "gaussian", sigma_255, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # both on one core, as classical.bm3d runs: a fair ratio, robust to other load
    try:
        denoise_network(noisy[:64, :64], DEFAULT_WEIGHTS, False)  # loads the weights: not part of the time
        start = time.perf_counter()
        net = denoise_network(noisy, DEFAULT_WEIGHTS, False)
        net_s = time.perf_counter() - start
        start = time.perf_counter()
        bm3d = denoise_classical("bm3d", noisy, sigma_255 / 255)
        bm3d_s = time.perf_counter() - start
        cpu = cpu_info()  # torch_threads 1: the one core both were timed on
    finally:
        torch.set_num_threads(threads)
    settings = Settings(image=photo, scale=scale, level=sigma_255, seed=seed)
    box = zoom_box(clean.shape, replace(settings, zoom=min(96, *clean.shape[:2])))
    panels = [Explorer._panel("noisy", noisy, clean, box, None), Explorer._panel("Noise2Noise", net, clean, box, net_s),
              Explorer._panel("BM3D", bm3d, clean, box, bm3d_s),
              {**Explorer._panel("clean", clean, None, box, None), "caption": f"held-out photo ({photo})"}]
    numbers = {"photo": photo, "shape": list(clean.shape), "sigma_255": sigma_255, "network_s": net_s,
               "bm3d_s": bm3d_s, "ratio": bm3d_s / net_s, "network_psnr": panels[1]["psnr"],
               "bm3d_psnr": panels[2]["psnr"], "cpu": cpu}
    title = (f"{clean.shape[1]}x{clean.shape[0]} photo, gaussian noise sigma {sigma_255:g}/255: the network "
             f"is {numbers['ratio']:.0f}x faster than BM3D on one core of\n{describe_cpu(cpu)}")
    return plot_panels(panels, box, size=3.0, title=title), numbers


def main(argv: list[str] | None = None) -> int:
    """`python -m n2n_utils.explore readme`: write figures/readme/README_FIGURE.png (and .json)."""
    import argparse

    from PIL import Image

    from .config import FIGURES_DIR
    from .files import write_atomic, write_json

    parser = argparse.ArgumentParser(description="The README's picture: network against BM3D, timed.")
    parser.add_argument("what", choices=["readme"])
    parser.add_argument("--photo", default="chelsea", choices=SPLITS["val"])
    args = parser.parse_args(argv)
    fig, numbers = readme_figure(args.photo)
    folder = FIGURES_DIR / "readme"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)  # small
    path = write_atomic(folder / f"{README_FIGURE}.png", lambda tmp: image.save(tmp, format="PNG", optimize=True))
    write_json(folder / f"{README_FIGURE}.json", numbers)
    print(f"wrote {path}: network {numbers['network_s']:.2f} s, BM3D {numbers['bm3d_s']:.1f} s "
          f"({numbers['ratio']:.0f}x) on one core of {describe_cpu(numbers['cpu'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
