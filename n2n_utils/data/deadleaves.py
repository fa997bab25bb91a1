"""Dead leaves: synthetic training images with the occlusions and scale statistics of photos.

Disks ("leaves") fall on the image one after another; a later leaf lands *under* the earlier
ones, so each pixel shows the first leaf that covered it, and leaves keep falling until every
pixel is covered. Radii follow the scale-invariant law of natural images, a density
proportional to r^-3 between `r_min` and `r_max` (output pixels), so each octave of scale holds
about the same visible area: a 32x32 crop shows large flat regions and fine clutter, as a photo
does, and nothing in it was ever photographed.

Each leaf has a colour drawn uniformly in RGB, a linear shading across it and a faint oriented
sinusoidal texture. Edges are anti-aliased by rendering the leaf labels at `supersample` times
the resolution and averaging each block (area averaging).

Rendering is vectorised over leaves: a disk becomes horizontal runs of pixels, and each pixel
keeps the lowest leaf index that reached it (`np.minimum.at`, with an empty pixel holding the
largest int32 as a sentinel). Leaves are drawn on square canvases of `canvas` pixels, cut into
non-overlapping 32x32 crops, with leaf centres spread `r_max` beyond the canvas so its border
is no different from its middle.

`make_deadleaves(n, seed)` returns uint8 (n, 3, 32, 32), values 0-255, like every dataset here.
"""

from __future__ import annotations

import numpy as np

CROP = 32
EMPTY = np.iinfo(np.int32).max  # label of a pixel no leaf has covered yet
BATCH = 2.0  # leaves per batch: enough to cover the canvas and its margin about twice
TILE = 16  # after the first batch, a leaf that reaches no 16x16 tile with an empty pixel is skipped

# Defaults, all in output pixels (0-1 for colour amplitudes).
DEFAULTS = {
    "r_min": 1.0,         # smallest leaf radius
    "r_max": 64.0,        # largest leaf radius: two crops across
    "canvas": 256,        # side of one rendered canvas, cut into (256/32)^2 = 64 crops
    "supersample": 4,     # labels rendered at 4x, then each 4x4 block averaged
    "shading": 0.15,      # largest change of intensity across a leaf's radius (linear gradient)
    "texture": 0.05,      # largest amplitude of a leaf's sinusoidal texture
}


def sample_radii(n: int, rng: np.random.Generator, r_min: float = DEFAULTS["r_min"],
                 r_max: float = DEFAULTS["r_max"]) -> np.ndarray:
    """`n` radii (float64, output pixels) with density proportional to r^-3 on [r_min, r_max],
    by inverting the CDF F(r) = (r_min^-2 - r^-2) / (r_min^-2 - r_max^-2)."""
    a, b = r_min ** -2.0, r_max ** -2.0
    return (a - rng.random(n) * (a - b)) ** -0.5


def _rasterise(flat: np.ndarray, side: int, cx: np.ndarray, cy: np.ndarray, r: np.ndarray,
               ids: np.ndarray, open_rows: np.ndarray | None, tile: int) -> None:
    """Write into `flat` (the (side, side) label map, raveled) the lowest leaf id that covers
    each pixel centre. Disks are in label-pixel units; pixel (i, j) has its centre at
    (j + 0.5, i + 0.5). A disk becomes one run of pixels per row it crosses; with `open_rows`
    (per band of `tile` rows, the running count along x of tiles holding an empty pixel, with
    a leading 0), runs that cross only full tiles are dropped before they are drawn."""
    y0 = np.clip(np.ceil(cy - r - 0.5), 0, side).astype(np.int32)
    y1 = np.clip(np.floor(cy + r - 0.5) + 1, 0, side).astype(np.int32)
    rows = np.maximum(y1 - y0, 0)
    disk = np.repeat(np.arange(len(r), dtype=np.int32), rows)
    y = y0[disk] + np.arange(len(disk), dtype=np.int32) - np.repeat(np.cumsum(rows) - rows, rows)
    half = np.sqrt(np.maximum(r[disk] ** 2 - (y + 0.5 - cy[disk]) ** 2, 0.0))
    x0 = np.clip(np.ceil(cx[disk] - half - 0.5), 0, side).astype(np.int32)
    x1 = np.clip(np.floor(cx[disk] + half - 0.5) + 1, 0, side).astype(np.int32)
    run = x1 > x0
    if open_rows is not None:
        band = open_rows[y // tile]
        cols = np.arange(len(y))
        run &= band[cols, (x1 - 1) // tile + 1] > band[cols, x0 // tile]
    disk, y, x0, x1 = disk[run], y[run], x0[run], x1[run]
    length = x1 - x0
    ends = np.cumsum(length, dtype=np.int32)
    pixel = np.repeat(y * side + x0 - ends + length, length) + np.arange(ends[-1] if len(ends) else 0,
                                                                         dtype=np.int32)
    owner = np.repeat(ids[disk], length)
    if open_rows is not None:  # pixels covered in an earlier batch keep their (lower) id
        free = flat[pixel] == EMPTY
        pixel, owner = pixel[free], owner[free]
    np.minimum.at(flat, pixel, owner)


def render_labels(rng: np.random.Generator, size: int = DEFAULTS["canvas"],
                  r_min: float = DEFAULTS["r_min"], r_max: float = DEFAULTS["r_max"],
                  supersample: int = DEFAULTS["supersample"]) -> tuple[np.ndarray, np.ndarray]:
    """Drop leaves until every pixel of a (size * supersample)^2 label map is covered.

    Returns the label map, int32, each pixel the index of the first leaf covering its centre,
    and the leaves, float64 (L, 3) with columns (x, y, r) in output pixels, in falling order.
    """
    side, margin, tile = size * supersample, r_max, TILE
    if side * side >= EMPTY:
        raise ValueError(f"canvas {size} x supersample {supersample} is too large a label map")
    label = np.full(side * side, EMPTY, dtype=np.int32)
    mean_area = np.pi * np.log(r_max / r_min) / ((r_min ** -2.0 - r_max ** -2.0) / 2)  # E[pi r^2]
    batch = int(BATCH * (size + 2 * margin) ** 2 / mean_area) + 1
    open_ = np.ones((side // tile, side // tile), dtype=np.int32)  # tiles with an empty pixel
    leaves, empty = [], None  # empty: the uncovered pixels, None before the first batch (all)
    while empty is None or len(empty):
        r = sample_radii(batch, rng, r_min, r_max)
        x, y = rng.uniform(-margin, size + margin, size=(2, batch))
        first = sum(len(b) for b in leaves)
        leaves.append(np.stack([x, y, r], axis=1))
        cx, cy, rs = x * supersample, y * supersample, r * supersample
        # keep the leaves whose bounding box reaches an open tile (summed-area table of open_)
        table = np.pad(open_.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        centre = np.stack([cy, cx])
        (ty0, tx0) = np.clip((centre - rs) // tile, 0, side // tile).astype(np.int64)
        (ty1, tx1) = np.clip((centre + rs) // tile + 1, 0, side // tile).astype(np.int64)
        hits = table[ty1, tx1] - table[ty0, tx1] - table[ty1, tx0] + table[ty0, tx0]
        keep = np.flatnonzero(hits > 0)
        open_rows = None if empty is None else np.pad(open_.cumsum(1), ((0, 0), (1, 0)))
        _rasterise(label, side, cx[keep], cy[keep], rs[keep], (first + keep).astype(np.int32),
                   open_rows, tile)
        empty = np.flatnonzero(label == EMPTY) if empty is None else empty[label[empty] == EMPTY]
        open_[:] = 0
        open_[empty // side // tile, empty % side // tile] = 1
    return label.reshape(side, side), np.concatenate(leaves)


def _shade(leaf: np.ndarray, px: np.ndarray, py: np.ndarray, blur: bool) -> np.ndarray:
    """Colour (..., 3), float 0-1, of leaves `leaf` (rows of the look table) at positions
    (px, py) in output pixels. With `blur`, the texture is averaged over the pixel's square
    (a sinusoid's box average is the sinusoid times sinc factors; the linear shading's average
    is its value at the centre), so a pixel inside one leaf needs one evaluation, not k^2."""
    kx, ky, amplitude = leaf[..., 7], leaf[..., 8], leaf[..., 6]
    if blur:
        amplitude = amplitude * np.sinc(kx / (2 * np.pi)) * np.sinc(ky / (2 * np.pi))
    light = leaf[..., 3] * px + leaf[..., 4] * py + leaf[..., 5]
    light = light + amplitude * np.sin(kx * px + ky * py + leaf[..., 9])
    return np.clip(leaf[..., :3] + light[..., None], 0.0, 1.0)


def render_canvas(rng: np.random.Generator, size: int = DEFAULTS["canvas"],
                  r_min: float = DEFAULTS["r_min"], r_max: float = DEFAULTS["r_max"],
                  supersample: int = DEFAULTS["supersample"], shading: float = DEFAULTS["shading"],
                  texture: float = DEFAULTS["texture"]) -> np.ndarray:
    """One dead-leaves canvas, uint8 (size, size, 3), values 0-255."""
    label, leaves = render_labels(rng, size, r_min, r_max, supersample)
    shown = np.zeros(len(leaves), dtype=bool)
    shown[label.ravel()] = True
    visible = np.flatnonzero(shown)  # only leaves in sight get a look, drawn in falling order
    x, y, r = leaves[visible].T
    n = len(visible)
    colour = rng.random((n, 3))
    angle = rng.uniform(0, 2 * np.pi, size=(2, n))
    slope = shading * rng.random(n) / r  # intensity change per pixel: `shading` at most over r
    gx, gy = slope * np.cos(angle[0]), slope * np.sin(angle[0])
    wave = 2 * np.pi / rng.uniform(2, 8, size=n)  # wavelengths of 2-8 pixels
    kx, ky = wave * np.cos(angle[1]), wave * np.sin(angle[1])
    amplitude = texture * rng.random(n)
    phase = rng.uniform(0, 2 * np.pi, size=n)
    # one row per leaf, looked up by label: colour, shading (gx, gy, offset), texture
    table = np.zeros((len(leaves), 10), dtype=np.float32)
    table[visible] = np.column_stack([colour, gx, gy, -(gx * x + gy * y), amplitude, kx, ky, phase])

    # each output pixel's k x k labels; a pixel inside one leaf is shaded once, at its centre
    k = supersample
    blocks = label.reshape(size, k, size, k).transpose(0, 2, 1, 3).reshape(size * size, k * k)
    pure = (blocks == blocks[:, :1]).all(axis=1)
    centre = np.arange(size, dtype=np.float32) + 0.5
    cy, cx = (c.ravel() for c in np.meshgrid(centre, centre, indexing="ij"))
    image = np.empty((size * size, 3), dtype=np.float32)
    image[pure] = _shade(table[blocks[pure, 0]], cx[pure], cy[pure], blur=True)
    # a pixel on an edge averages its k x k samples, each shaded where it lies
    sub = (np.arange(k, dtype=np.float32) + 0.5) / k - 0.5
    dy, dx = (d.ravel() for d in np.meshgrid(sub, sub, indexing="ij"))
    mixed = ~pure
    samples = _shade(table[blocks[mixed]], cx[mixed, None] + dx, cy[mixed, None] + dy, blur=False)
    image[mixed] = samples.mean(axis=1)
    return np.round(image.reshape(size, size, 3) * 255).astype(np.uint8)


def make_deadleaves(n: int, seed: int = 0, **params: float) -> np.ndarray:
    """`n` dead-leaves crops, uint8 (n, 3, 32, 32), values 0-255; deterministic from `seed`,
    and the first crops of a larger `n` are the crops of a smaller one. `params` override
    DEFAULTS (an unknown name is an error)."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"dead leaves have no parameter {sorted(unknown)}; "
                         f"their parameters are {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    size = int(p["canvas"])
    if size % CROP:
        raise ValueError(f"canvas must be a multiple of {CROP} pixels, got {size}")
    per_canvas = (size // CROP) ** 2
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(-(-n // per_canvas)):
        canvas = render_canvas(rng, size, p["r_min"], p["r_max"], int(p["supersample"]),
                               p["shading"], p["texture"])
        tiles = canvas.reshape(size // CROP, CROP, size // CROP, CROP, 3).transpose(0, 2, 4, 1, 3)
        crops.append(tiles.reshape(-1, 3, CROP, CROP))
    return np.concatenate(crops)[:n] if crops else np.empty((0, 3, CROP, CROP), np.uint8)
