import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from n2n_utils.metrics import mean_ci, psnr, psnr_dataset, psnr_per_image


def test_psnr_hand_computed():
    clean = torch.zeros(2, 3, 4, 4)
    den = clean.clone()
    den[0] += 0.1  # mse 0.01 -> 20 dB
    den[1] += 0.01  # mse 1e-4 -> 40 dB
    assert psnr_per_image(den, clean).tolist() == pytest.approx([20.0, 40.0], abs=1e-5)
    assert psnr(den, clean) == pytest.approx(30.0, abs=1e-5)
    # pooled: mse (0.01 + 1e-4) / 2
    assert psnr_dataset(den, clean) == pytest.approx(-10 * math.log10(0.00505), abs=1e-5)
    assert psnr(den * 255, clean * 255, max_range=255) == pytest.approx(30.0, abs=1e-5)


def test_psnr_matches_scikit_image():
    rng = np.random.default_rng(0)
    clean = rng.random((5, 3, 8, 8))
    den = np.clip(clean + rng.normal(0, 0.05, clean.shape), 0, 1)
    ours = psnr_per_image(torch.from_numpy(den), torch.from_numpy(clean)).numpy()
    theirs = [peak_signal_noise_ratio(c, d, data_range=1.0) for c, d in zip(clean, den, strict=True)]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))


def test_mean_ci():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 * 1 / math.sqrt(3), rel=1e-5)


def test_one_value_has_no_confidence_interval():
    # was (5.0, 0.0): a CI of 0.00 dB, as if one run measured its mean exactly
    mean, half = mean_ci([5.0])
    assert mean == 5.0 and math.isnan(half)
    assert all(math.isnan(v) for v in mean_ci([]))
    assert mean_ci([5.0, 5.0]) == (5.0, 0.0)  # two equal values: a CI, of width 0


def test_psnr_refuses_images_on_another_scale():
    # was: uint8 images, or 0-255 floats, scored against max_range 1 gave a number ~48 dB off, silently
    clean = torch.full((2, 3, 4, 4), 0.5)
    with pytest.raises(ValueError, match="uint8"):
        psnr_per_image((clean * 255).to(torch.uint8), clean)
    with pytest.raises(ValueError, match="outside 0-1.*max_range=255"):
        psnr(clean * 255, clean * 255)
    with pytest.raises(ValueError, match="outside 0-1"):
        psnr_dataset(clean, clean * 255)
    assert psnr(clean * 255 + 1, clean * 255, max_range=255) == pytest.approx(20 * math.log10(255), abs=1e-6)
