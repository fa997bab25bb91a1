"""How to feed a grey image to weights that learned colour noise: PSNR of each strategy on grey
photos at gaussian sigma 5 to 50/255, for both shipped weights, with grey BM3D as a reference.

    python -m benchmarks.grey                      # the measurement (about 10 min on 2 busy cores)
    python -m benchmarks.grey --config tiny --out /tmp/grey.json   # every code path, in seconds

The shipped weights learned noise independent in R, G and B. A grey image replicated into three
equal channels (`plain`) carries the same noise in all three, which they leave partly in place.
The `shift` strategies put the grey image shifted by a pixel or two into each channel, so that
the noise at one place differs between channels, and average the channels after shifting them
back (inference.shift_channels, unshift_mean; inference.grey_shifts is the rule drawn from this).
Methods, with their network passes per image:

- plain (1): (x, x, x), the three outputs averaged (what denoise did before);
- plain + dihedral (8): the same, averaged over the 8 rotations and mirror images;
- shift 1 (1): channels shifted by (0, 0), (0, 1), (1, 0) pixels;
- shift 2 (1): by (0, 0), (0, 2), (2, 0);
- shift 1, 4 L-shapes (4): shift 1 averaged with its three mirror images of the shift pattern;
- shift 1 + dihedral (8): shift 1 inside the 8 rotations and mirror images;
- plain & shift 1 (2): the mean of plain and shift 1;
- BM3D (grey, given the true sigma), and the noisy input.

The photos: natural32's held-out ones (data.SPLITS['val']; the motorcycle's left view) in grey
(ITU-R 601 luma, skimage.color.rgb2gray, rounded to uint8) and skimage's camera, each a centred
`crop` x `crop` square; one noise draw per photo and sigma from a fixed seed. PSNR per photo
and the mean over photos. Times (seconds per method, whole run) are recorded too, but were
measured on a shared machine: only the PSNRs are meant to be read.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from skimage.color import rgb2gray

from n2n_utils.augment import ensemble_for
from n2n_utils.classical import bm3d
from n2n_utils.config import BENCHMARK_RESULTS_DIR, cpu_info, cpu_kind, describe_device
from n2n_utils.data import PHOTOS, SPLITS
from n2n_utils.files import provenance, write_json
from n2n_utils.inference import GREY_SHIFT1, GREY_SHIFT2, predict, shift_channels, unshift_mean
from n2n_utils.noise import gaussian
from n2n_utils.weights import DEFAULT_WEIGHTS, load_weights, read_weights

BLIND = "resunet-natural32-gaussian-blind"
WEIGHTS = (DEFAULT_WEIGHTS, BLIND)
SEED = 0

SHIFT1, SHIFT2 = GREY_SHIFT1, GREY_SHIFT2
L_SHAPES = (SHIFT1, ((0, 0), (0, -1), (1, 0)), ((0, 0), (0, 1), (-1, 0)), ((0, 0), (0, -1), (-1, 0)))

NOISY, BM3D = "noisy input", "BM3D (grey, true sigma)"
PLAIN, PLAIN_D8 = "plain", "plain + dihedral"
S1, S2, S1_L4, S1_D8, MIX = "shift 1", "shift 2", "shift 1, 4 L-shapes", "shift 1 + dihedral", "plain & shift 1"
NETWORK_METHODS = (PLAIN, PLAIN_D8, S1, S2, S1_L4, S1_D8, MIX)
PASSES = {PLAIN: 1, PLAIN_D8: 8, S1: 1, S2: 1, S1_L4: 4, S1_D8: 8, MIX: 2}


@dataclass(frozen=True)
class Config:
    crop: int                  # side of the centred square cut from each photo, pixels (a multiple of 32)
    sigmas_255: tuple[int, ...]
    photos: tuple[str, ...]    # names in data.PHOTOS, or "camera" (skimage's, grey already)
    ensembles: bool = True     # measure the 8-pass dihedral methods too


CONFIGS = {
    "tiny": Config(crop=64, sigmas_255=(25,), photos=("camera",)),  # every code path, numbers meaningless
    "full": Config(crop=192, sigmas_255=(5, 10, 15, 25, 35, 50), photos=(*SPLITS["val"], "camera")),
    # where the sigma-25 weights' better feed changes (plain at 15, shift 1 at 25): inference.PLAIN_BELOW
    "crossover": Config(crop=192, sigmas_255=(18, 20, 22), photos=(*SPLITS["val"], "camera"), ensembles=False),
}


# --------------------------------------------------------------------------- data


def grey_photo(name: str, crop: int) -> np.ndarray:
    """uint8 H x W grey, a centred crop x crop square of the photo."""
    import skimage.data

    if name == "camera":
        grey = skimage.data.camera()
    else:
        grey = np.round(rgb2gray(PHOTOS[name]()[0]) * 255).astype(np.uint8)
    h, w = grey.shape
    top, left = (h - crop) // 2, (w - crop) // 2
    return np.ascontiguousarray(grey[top:top + crop, left:left + crop])


def noisy_grey(clean: np.ndarray, sigma_255: int, index: int) -> np.ndarray:
    """One gaussian draw, fixed by (SEED, sigma, the photo's index)."""
    generator = torch.Generator().manual_seed(SEED * 1_000_000 + sigma_255 * 1000 + index)
    return gaussian(torch.from_numpy(clean)[None, None], generator, sigma=sigma_255 / 255)[0, 0].numpy()


def psnr_255(image: np.ndarray, clean: np.ndarray) -> float:
    """PSNR (dB) of a 0-1 float or uint8 image against uint8 `clean`, after rounding to uint8."""
    x = image if image.dtype == np.uint8 else np.clip(np.rint(image * 255), 0, 255)
    mse = np.mean((x.astype(np.float64) - clean.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


# --------------------------------------------------------------------------- methods


def network_outputs(model, noisy: np.ndarray, ensembles: bool, timings: dict) -> dict[str, np.ndarray]:
    """Every network method's output on one grey uint8 image, float 0-1 H x W."""
    g = torch.from_numpy(noisy)[None, None]
    ens = ("dihedral",)

    def run(name, fn):
        start = time.perf_counter()
        out = fn()
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
        return out

    def shifted(shifts, ensemble=()):
        return unshift_mean(predict(model, shift_channels(g, shifts), precision="fp32", ensemble=ensemble), shifts)

    out = {
        PLAIN: run(PLAIN, lambda: predict(model, g.repeat(1, 3, 1, 1), precision="fp32").mean(1, keepdim=True)),
        S1: run(S1, lambda: shifted(SHIFT1)),
        S2: run(S2, lambda: shifted(SHIFT2)),
    }
    out[S1_L4] = run(S1_L4, lambda: (out[S1] + sum(shifted(s) for s in L_SHAPES[1:])) / len(L_SHAPES))
    out[MIX] = (out[PLAIN] + out[S1]) / 2
    if ensembles:
        out[PLAIN_D8] = run(PLAIN_D8, lambda: predict(model, g.repeat(1, 3, 1, 1), precision="fp32",
                                                       ensemble=ens).mean(1, keepdim=True))
        out[S1_D8] = run(S1_D8, lambda: shifted(SHIFT1, ens))
    return {k: v[0, 0].numpy() for k, v in out.items()}


def measure(config: Config) -> dict:
    """PSNR per photo for every (weights, sigma, method), and the means over photos."""
    models = {name: load_weights(name, "cpu") for name in WEIGHTS}
    cards = {name: read_weights(name)["card"] for name in WEIGHTS}
    assert all("dihedral" in ensemble_for(c.get("noise", "unknown")) for c in cards.values())
    cleans = {p: grey_photo(p, config.crop) for p in config.photos}
    rows, timings = [], {}
    for sigma in config.sigmas_255:
        for index, (photo, clean) in enumerate(cleans.items()):
            noisy = noisy_grey(clean, sigma, index)
            base = {"sigma_255": sigma, "photo": photo}
            rows.append({**base, "weights": None, "method": NOISY, "psnr": psnr_255(noisy, clean)})
            start = time.perf_counter()
            grey3 = np.repeat((noisy / 255.0)[..., None], 3, axis=-1)
            denoised = bm3d(grey3, sigma / 255)[..., 0]
            rows.append({**base, "weights": None, "method": BM3D, "psnr": psnr_255(denoised, clean)})
            timings[BM3D] = timings.get(BM3D, 0.0) + time.perf_counter() - start
            for name, model in models.items():
                for method, out in network_outputs(model, noisy, config.ensembles, timings).items():
                    rows.append({**base, "weights": name, "method": method, "psnr": psnr_255(out, clean)})
        print(f"  sigma {sigma}/255 done", flush=True)
    return {"rows": rows, "seconds_per_method": timings, "means": means(rows)}


def means(rows: list[dict]) -> list[dict]:
    """The mean PSNR over photos of each (weights, sigma, method), and its gain over plain."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((r["weights"], r["sigma_255"], r["method"]), []).append(r["psnr"])
    out = []
    for (weights, sigma, method), values in groups.items():
        plain = groups.get((weights, sigma, PLAIN))
        gain = None if plain is None else float(np.mean(values) - np.mean(plain))
        out.append({"weights": weights, "sigma_255": sigma, "method": method, "psnr": float(np.mean(values)),
                    "n_photos": len(values), "gain_over_plain_db": gain})
    return out


def table(result: dict) -> str:
    """A markdown table per weights: mean PSNR (dB) by method (rows) and sigma (columns)."""
    means_ = result["means"]
    sigmas = sorted({m["sigma_255"] for m in means_})
    lookup = {(m["weights"], m["sigma_255"], m["method"]): m["psnr"] for m in means_}
    lines = []
    for weights in (None, *WEIGHTS):
        methods = dict.fromkeys(m["method"] for m in means_ if m["weights"] == weights)
        lines += [f"\n{weights or 'no network'}\n", "| method | " + " | ".join(f"{s}/255" for s in sigmas) + " |",
                  "|---" * (len(sigmas) + 1) + "|"]
        for method in methods:
            cells = [f"{lookup[(weights, s, method)]:.2f}" if (weights, s, method) in lookup else "" for s in sigmas]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(config_name: str, out: Path | None = None) -> dict:
    config = CONFIGS[config_name]
    torch.manual_seed(SEED)
    out = out or BENCHMARK_RESULTS_DIR / f"grey-cpu-{cpu_kind()}-{config_name}.json"
    print(f"grey benchmark, config {config_name!r}, {describe_device(torch.device('cpu'))}", flush=True)
    made = provenance(benchmark="grey", config=config_name, seed=SEED, device=describe_device(torch.device("cpu")),
                      cpu=cpu_info())  # before the run: the commit measured
    start = time.perf_counter()
    result = measure(config)
    result = {
        "provenance": {**made, "seconds": time.perf_counter() - start},
        "config": {"name": config_name, **asdict(config)},
        "shifts": {S1: SHIFT1, S2: SHIFT2, S1_L4: L_SHAPES},
        "passes": PASSES,
        **result,
        "notes": ["PSNR on uint8-rounded outputs, against the uint8 grey clean crop.",
                  "Measured on a shared 2-core machine under load: the seconds are not speeds to quote; "
                  "PSNR does not depend on load."],
    }
    write_json(out, result)
    print(table(result))
    print(f"wrote {out}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grey", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="full", choices=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default: benchmarks/results/grey-cpu-<CPU kind>-<config>.json)")
    args = parser.parse_args(argv)
    run(args.config, args.out)


if __name__ == "__main__":
    main()
