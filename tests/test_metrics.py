import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import peak_signal_noise_ratio

from n2n_utils.metrics import mean_ci, paired_gap, psnr, psnr_dataset, psnr_per_image


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


# ---------------------------------------------------------------- paired gaps (metrics.paired_gap)
def test_paired_gap_is_the_hand_computed_t_interval():
    from scipy import stats

    # one seed: the t-interval of the per-crop differences [1, 1, 3]
    mean, half = paired_gap([1.0, 2.0, 4.0], [0.0, 1.0, 1.0])
    sd = math.sqrt(((1 - 5 / 3) ** 2 * 2 + (3 - 5 / 3) ** 2) / 2)
    assert mean == pytest.approx(5 / 3) and half == pytest.approx(stats.t.ppf(0.975, 2) * sd / math.sqrt(3))
    # two seeds of a network against a method without seeds, three crops: d = [[1, 1, 3], [2, 1, 4]]
    a, b = [[1.0, 2.0, 4.0], [2.0, 2.0, 5.0]], [0.0, 1.0, 1.0]
    by_crop, by_seed = np.array([1.5, 1.0, 3.5]), np.array([5 / 3, 7 / 3])
    crop_part, seed_part = by_crop.var(ddof=1) / 3, by_seed.var(ddof=1) / 2
    dof = (crop_part + seed_part) ** 2 / (crop_part**2 / 2 + seed_part**2 / 1)  # Welch-Satterthwaite
    mean, half = paired_gap(a, b)
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(stats.t.ppf(0.975, dof) * math.sqrt(crop_part + seed_part))
    assert paired_gap(a, np.tile(b, (2, 1))) == pytest.approx((mean, half))  # paired with every seed alike
    assert paired_gap(b, a) == pytest.approx((-mean, half))


def test_paired_gap_gives_no_interval_without_two_crops():
    # one crop: no spread over crops to measure, whatever the seeds; NaN ("n/a"), never 0
    for a, b in (([27.0], [26.0]), ([[27.0], [27.5]], [26.0]), ([[27.0], [27.5]], [[26.0], [26.1]])):
        mean, half = paired_gap(a, b)
        assert math.isfinite(mean) and math.isnan(half)
    assert all(math.isnan(v) for v in paired_gap([], []))
    # one seed: the crops' interval (mean_ci of the differences), which leaves the seeds out
    assert paired_gap([[27.0, 28.0, 26.5]], [26.0, 27.5, 26.4]) == pytest.approx(mean_ci([1.0, 0.5, 0.1]))
    with pytest.raises(ValueError, match="cannot pair"):
        paired_gap([[1.0, 2.0], [1.0, 2.0]], [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])  # 2 seeds against 3
    with pytest.raises(ValueError, match="cannot pair"):
        paired_gap([1.0, 2.0, 3.0], [1.0, 2.0])


_crops = st.lists(st.floats(15, 35), min_size=3, max_size=40)


@settings(max_examples=60, deadline=None)
@given(_crops.filter(lambda c: np.std(c) > 1), st.floats(-2, 2), st.data())
def test_paired_interval_is_tighter_on_scores_that_share_the_crops(crops, offset, data):
    # two methods scored on the same crops: each crop's PSNR mostly how hard the crop is (spread > 1 dB),
    # the methods differing by `offset` and a little per crop (< 0.1 dB)
    jitter = data.draw(st.lists(st.floats(-0.1, 0.1), min_size=len(crops), max_size=len(crops)))
    a, b = np.array(crops) + offset + np.array(jitter), np.array(crops)
    gap, half = paired_gap(a, b)
    assert gap == pytest.approx(a.mean() - b.mean())
    assert half < mean_ci(a)[1] and half < mean_ci(b)[1]  # far tighter than either row's own CI


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-20, 20)), min_size=2, max_size=20))
def test_how_hard_a_crop_is_drops_out_of_a_paired_gap(rows):
    a, b, hardness = (np.array(column) for column in zip(*rows, strict=True))
    assert paired_gap(a + hardness, b + hardness) == pytest.approx(paired_gap(a, b), nan_ok=True, abs=1e-9)
