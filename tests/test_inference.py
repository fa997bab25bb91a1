"""Tiled denoising of arrays and files of any size.

The bounds pinned here (float 0-1 units, measured with the shipped weights on a noisy crop of
the astronaut photo; they depend on the weights: 5e-3 held for the first, 3-epoch weights, the
10-epoch weights reach 9.6e-3):
- an image no larger than a tile: equal to one `predict` pass (to the 16-bit step);
- tiled vs one pass over the whole image: at most 1.5e-2 anywhere (about 4 uint8 levels; largest
  within 16 px of a tile edge), below 1e-4 from 64 px away from every tile edge, and the same
  PSNR to 0.01 dB;
- the reason: the network is translation-equivariant for shifts by its 32-px pooling grid
  (identical output away from the image borders), not for other shifts.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torch import nn

from n2n_utils import images, inference
from n2n_utils.config import OptionError
from n2n_utils.images import ImageError
from n2n_utils.inference import (
    GREY_PLAIN,
    GREY_SHIFT1,
    GREY_SHIFT2,
    denoise_array,
    denoise_file,
    grey_shifts,
    pad_to_multiple,
    predict,
    shift_channels,
    unshift_mean,
)
from n2n_utils.models import ResUNet
from n2n_utils.weights import load_weights

STEP16 = 1 / 65535


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return load_weights(device="cpu")


def noisy_photo(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clean uint8 crop of the astronaut photo and a noisy copy (gaussian, sigma 25 of 255)."""
    clean = skimage.data.astronaut()[100:100 + h, 100:100 + w]
    noise = np.random.default_rng(seed).normal(0, 25, clean.shape)
    return clean, np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


def one_pass(model: torch.nn.Module, image_uint8: np.ndarray) -> np.ndarray:
    """`predict` on the whole image: float H x W x 3 in 0-1."""
    return predict(model, torch.from_numpy(image_uint8).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()


def tiled(model, image_uint8, **kwargs) -> np.ndarray:
    """denoise_array at 16-bit resolution (uint8 * 257 / 65535 == uint8 / 255): float 0-1."""
    return denoise_array(model, image_uint8.astype(np.uint16) * 257, **kwargs) / 65535


def test_predict_pads_other_sizes_and_crops_back():
    image = torch.rand(1, 3, 30, 45)
    x, size = pad_to_multiple(image)
    assert x.shape[-2:] == (32, 64) and size == (30, 45)
    assert torch.equal(x[..., :30, :45], image) and torch.equal(x[..., 30, :45], image[..., 28, :])  # reflected
    tiny, _ = pad_to_multiple(torch.rand(1, 3, 5, 7))  # too small to reflect: replicate
    assert tiny.shape[-2:] == (32, 32)
    out = predict(ResUNet(), torch.randint(0, 256, (2, 3, 30, 45), dtype=torch.uint8))
    assert out.shape == (2, 3, 30, 45) and 0 <= out.min() and out.max() <= 1


class _Masked(nn.Module):
    """A denoiser that is not equivariant: it multiplies by a fixed, asymmetric mask."""

    def __init__(self):
        super().__init__()
        self.mask = nn.Parameter(torch.linspace(0.2, 1.0, 32 * 32).reshape(1, 1, 32, 32))

    def forward(self, x):
        return x * self.mask


def test_predict_ensemble_averages_the_transformed_outputs():
    from n2n_utils.augment import dihedral_inverse

    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    x = images.float() / 255
    model = _Masked()
    torch.testing.assert_close(predict(model, images), x * model.mask.detach())
    # dihedral: the mask is seen in all 8 orientations, i.e. averaged over the group
    mean_mask = torch.stack([dihedral_inverse(model.mask.detach(), k) for k in range(8)]).mean(0)
    torch.testing.assert_close(predict(model, images, ensemble=("dihedral",)), x * mean_mask)
    # inversion: (x m + 1 - (1 - x) m) / 2 = x m + (1 - m) / 2
    m = model.mask.detach()
    torch.testing.assert_close(predict(model, images, ensemble=("inversion",)), x * m + (1 - m) / 2)
    # an equivariant denoiser (identity) is unchanged by any ensemble
    identity = nn.Conv2d(3, 3, 1, bias=False)
    nn.init.dirac_(identity.weight)
    torch.testing.assert_close(predict(identity, images, ensemble=("dihedral", "inversion", "channel_permutation")), x)


def test_an_image_within_one_tile_is_one_pass(model):
    _, noisy = noisy_photo(70, 90)
    assert np.abs(tiled(model, noisy, tile=128) - one_pass(model, noisy)).max() <= STEP16


def test_tiles_match_one_pass_over_the_whole_image(model):
    clean, noisy = noisy_photo(256, 320)
    whole = one_pass(model, noisy)
    out = tiled(model, noisy, tile=128, overlap=32)
    diff = np.abs(out - whole).max(-1)
    assert diff.max() < 1.5e-2
    # distance of each pixel to the nearest tile edge inside the image
    rows = inference._tile_starts(256, 128, 96)
    cols = inference._tile_starts(320, 128, 96)
    def dist(n, starts):
        edges = np.array([s for s in starts if s > 0] + [s + 128 for s in starts if s + 128 < n])
        return np.abs(np.arange(n)[:, None] - edges[None]).min(1)
    far = np.minimum(dist(256, rows)[:, None], dist(320, cols)[None, :]) >= 64
    assert far.sum() > 1000 and diff[far].max() < 1e-4
    psnr = lambda x: 10 * np.log10(1 / np.mean((x - clean / 255) ** 2))
    assert abs(psnr(out) - psnr(whole)) < 0.01


def test_equivariant_to_shifts_by_the_pooling_grid_only(model):
    _, noisy = noisy_photo(320, 320)
    whole = one_pass(model, noisy)
    for shift, exact in [(32, True), (16, False)]:
        shifted = one_pass(model, noisy[shift:, shift:])
        inner = np.abs(shifted - whole[shift:, shift:])[128:-128, 128:-128]  # far from all borders
        assert (inner.max() < 1e-6) == exact, (shift, inner.max())


def test_the_network_never_sees_more_than_a_tile(model):
    seen = []
    handle = model.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        denoise_array(model, noisy_photo(100, 150)[1], tile=64, overlap=32)
    finally:
        handle.remove()
    # 100 x 150 pads to 128 x 160; a tile every 32 px and the last flush: 3 rows x 4 columns
    assert len(seen) == 3 * 4 and max(max(s) for s in seen) <= 64


@pytest.mark.parametrize("shape", [(40, 50), (40, 50, 1), (40, 50, 2), (40, 50, 3), (40, 50, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_shapes_dtypes_and_alpha(model, shape, dtype):
    image = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    before = image.copy()
    out = denoise_array(model, image, tile=64)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.array_equal(image, before)  # the input is not touched
    if len(shape) == 3 and shape[2] in (2, 4):
        assert np.array_equal(out[..., -1], image[..., -1])  # alpha passes through
    assert not np.array_equal(out, image)


def test_grey_is_the_mean_of_the_replicated_colour_output(model):
    _, noisy = noisy_photo(64, 64)
    grey = noisy[..., 1]
    out = denoise_array(model, grey, tile=64)
    expected = one_pass(model, np.repeat(grey[..., None], 3, axis=-1)).mean(-1)
    assert np.abs(out / 255 - expected).max() <= 0.5 / 255 + 1e-6


def grey_noisy(sigma_255: float, size: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clean grey crop of the astronaut photo (uint8 H x W) and a copy with grey gaussian noise."""
    clean = skimage.data.astronaut()[100:100 + size, 150:150 + size].mean(-1).round().astype(np.uint8)
    noise = np.random.default_rng(seed).normal(0, sigma_255, clean.shape)
    return clean, np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


def psnr_uint8(x: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((x.astype(float) - clean.astype(float)) ** 2)))


@pytest.mark.parametrize("shifts", [GREY_PLAIN, GREY_SHIFT1, GREY_SHIFT2, ((0, 0), (0, -1), (-2, 1))])
def test_shifted_channels_come_back_to_the_grey_image(shifts):
    grey = torch.rand(2, 1, 9, 11)
    x = shift_channels(grey, shifts)
    assert x.shape == (2, 3, 9, 11)
    for c, (dy, dx) in enumerate(shifts):  # channel c at (i, j) is grey at (i + dy, j + dx), inside
        assert torch.equal(x[:, c, 3:6, 3:6], grey[:, 0, 3 + dy:6 + dy, 3 + dx:6 + dx])
    assert torch.allclose(unshift_mean(x, shifts), grey, atol=1e-6)  # every pixel, the border too
    # unshift_mean averages the channels turned back: a constant added to one channel moves the mean by a third
    bumped = x.clone()
    bumped[:, 1] += 0.3
    inner = unshift_mean(bumped, shifts)[..., 2:-2, 2:-2]
    assert torch.allclose(inner, grey[..., 2:-2, 2:-2] + 0.1, atol=1e-6)


def test_grey_shifts_follow_the_weights_noise_and_level():
    blind = {"max_sigma": 50 / 255}
    assert all(grey_shifts("gaussian_blind", blind, s) == GREY_SHIFT2 for s in (None, 0.0, 5 / 255, 50 / 255))
    at25 = {"sigma": 25 / 255}
    assert grey_shifts("gaussian", at25, None) == GREY_SHIFT1  # unknown: the weights' own level
    assert grey_shifts("gaussian", at25, 25 / 255) == GREY_SHIFT1
    assert grey_shifts("gaussian", at25, 22 / 255) == GREY_SHIFT1
    assert grey_shifts("gaussian", at25, 15 / 255) == GREY_PLAIN
    assert grey_shifts("gaussian", {"sigma": 50 / 255}, 30 / 255) == GREY_PLAIN  # relative to the weights'
    assert grey_shifts("poisson", {"lam": 30.0}, None) == GREY_PLAIN  # not measured: as before


def test_grey_noise_is_denoised_better_shifted_where_the_rule_says(model):
    # the reason for grey_shifts (benchmarks/grey.py measures it on four photos): the sigma-25
    # weights gain from the shift at 25/255 and lose at 10/255; the blind weights gain at both
    blind = load_weights("resunet-natural32-gaussian-blind", device="cpu")
    gains = {}
    for name, weights in (("sigma25", model), ("blind", blind)):
        for sigma in (10, 25):
            clean, noisy = grey_noisy(sigma)
            plain = psnr_uint8(denoise_array(weights, noisy, tile=128, grey=GREY_PLAIN), clean)
            chosen = GREY_SHIFT2 if name == "blind" else GREY_SHIFT1
            gains[name, sigma] = psnr_uint8(denoise_array(weights, noisy, tile=128, grey=chosen), clean) - plain
    assert gains["sigma25", 25] > 1.5 and gains["sigma25", 10] < -0.5, gains
    assert gains["blind", 25] > 4.0 and gains["blind", 10] > 1.0, gains


@pytest.mark.parametrize("shape", [(40, 50), (40, 50, 1), (40, 50, 2)])
def test_shifted_grey_keeps_shape_dtype_and_alpha(model, shape):
    image = np.random.default_rng(1).integers(0, 65535, shape, endpoint=True).astype(np.uint16)
    out = denoise_array(model, image, tile=64, grey=GREY_SHIFT2)
    assert out.shape == image.shape and out.dtype == image.dtype
    if len(shape) == 3 and shape[2] == 2:
        assert np.array_equal(out[..., 1], image[..., 1])
    assert not np.array_equal(out, denoise_array(model, image, tile=64, grey=GREY_PLAIN))


def test_shifted_grey_tiles_match_one_pass(model):
    clean, noisy = grey_noisy(25, size=256)
    g = torch.from_numpy(noisy)[None, None]
    whole = unshift_mean(predict(model, shift_channels(g, GREY_SHIFT1)), GREY_SHIFT1)[0, 0].numpy()
    out = tiled(model, noisy, tile=128, overlap=32, grey=GREY_SHIFT1)
    diff = np.abs(out - whole)
    # near tile edges as plain grey is (on this image 2.2e-2 shifted, 1.9e-2 plain, at 16-bit), and
    # 64 px away from every tile edge below 1e-4, as colour: the shifts make no seam of their own
    assert diff.max() < 2.5e-2
    starts = inference._tile_starts(256, 128, 96)
    edges = np.array([s for s in starts if s > 0] + [s + 128 for s in starts if s + 128 < 256])
    dist = np.abs(np.arange(256)[:, None] - edges[None]).min(1)
    far = np.minimum(dist[:, None], dist[None, :]) >= 64
    assert far.sum() > 1000 and diff[far].max() < 1e-4
    psnr = lambda x: 10 * np.log10(1 / np.mean((x - clean / 255) ** 2))
    assert abs(psnr(out) - psnr(whole)) < 0.02  # 0.011 here (the tiled one the better)


def test_16_bit_is_scaled_by_65535(model):
    _, noisy = noisy_photo(64, 96)
    out8 = denoise_array(model, noisy, tile=64).astype(int)
    out16 = denoise_array(model, noisy.astype(np.uint16) * 257, tile=64).astype(int)
    assert np.abs(out16 / 257 - out8).max() <= 0.51


def test_bad_arrays_and_options_are_refused(model, monkeypatch):
    with pytest.raises(ImageError, match="uint8 or uint16"):
        denoise_array(model, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ImageError, match="shape"):
        denoise_array(model, np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(OptionError, match="tile=100: a tile's side is a multiple of 32"):  # a ValueError
        denoise_array(model, np.zeros((8, 8, 3), np.uint8), tile=100)
    with pytest.raises(OptionError, match=r"overlap=96: .* half the tile \(64 for tile 128\)"):
        denoise_array(model, np.zeros((8, 8, 3), np.uint8), tile=128, overlap=96)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="over the limit"):
        denoise_array(model, np.zeros((40, 40, 3), np.uint8))


def test_denoise_file_keeps_metadata_and_refuses_to_overwrite(model, tmp_path):
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(noisy_photo(48, 64)[1]).save(src, dpi=(300, 300))
    before = src.read_bytes()
    denoise_file(src, dst, model, tile=64)
    assert src.read_bytes() == before
    with Image.open(dst) as im:
        assert im.size == (64, 48) and im.mode == "RGB"
        assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
    with pytest.raises(ImageError, match="exists"):
        denoise_file(src, dst, model)
    with pytest.raises(ImageError, match="is the input"):
        denoise_file(src, src, model)
    assert src.read_bytes() == before
