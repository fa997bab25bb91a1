import pytest
import torch

from n2n_utils.noise import DEFAULT_PARAMS, PARAM_RANGES, get_noise, noise_params

GREY = torch.full((200, 3, 32, 32), 128, dtype=torch.uint8)


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_sigma_and_mean():
    noisy = get_noise("gaussian", sigma=25 / 255)(GREY, g())
    assert noisy.dtype == torch.uint8 and noisy.shape == GREY.shape
    d = noisy.float() - 128
    assert abs(d.std().item() - 25) < 0.5 and abs(d.mean().item()) < 0.3


def test_gaussian_clipping_biases_near_black():
    black = torch.full((100, 3, 32, 32), 5, dtype=torch.uint8)
    noisy = get_noise("gaussian")(black, g())
    assert noisy.float().mean() > 10  # clipped at 0: the noisy mean is pulled up


def test_poisson_variance_follows_signal():
    lam = 30.0
    noisy = get_noise("poisson", lam=lam)(GREY, g())
    x = 128 / 255
    expected_std = (x / lam) ** 0.5 * 255
    d = noisy.float() - 128
    assert abs(d.std().item() - expected_std) / expected_std < 0.05
    assert abs(d.mean().item()) < 0.5


def test_impulse_fraction():
    noisy = get_noise("impulse", p=0.3)(GREY, g())
    changed = (noisy != GREY).any(dim=1).float().mean().item()
    # a replaced pixel keeps all three values 128 only with negligible probability
    assert abs(changed - 0.3) < 0.01


def test_text_overlay_covers_part_of_the_image():
    noisy = get_noise("text")(GREY[:50], g())
    changed = (noisy != GREY[:50]).any(dim=1).float().mean(dim=(1, 2))
    assert (changed > 0).all() and 0.03 < changed.mean() < 0.6


@pytest.mark.parametrize("name", ["gaussian", "poisson", "impulse", "text"])
def test_noise_is_deterministic_from_generator(name):
    fn = get_noise(name)
    assert torch.equal(fn(GREY[:4], g(1)), fn(GREY[:4], g(1)))
    assert not torch.equal(fn(GREY[:4], g(1)), fn(GREY[:4], g(2)))


def test_unknown_noise_and_parameter_are_errors_that_name_the_choices_in_words():
    # was: "noise 'gaussian' has no parameter ['lam']; its parameters are ['sigma']"
    with pytest.raises(ValueError, match=r"unknown noise 'speckle'; choose one of gaussian, gaussian_blind, "
                                         r"impulse, poisson, text$"):
        get_noise("speckle")
    with pytest.raises(ValueError, match=r"^noise 'gaussian' has no parameter lam; its parameter is sigma$"):
        noise_params("gaussian", lam=3)
    with pytest.raises(ValueError, match=r"^noise 'text' has no parameters lam, p; "
                                         r"its parameters are font_size, max_strings$"):
        noise_params("text", p=0.1, lam=3)


def test_blind_gaussian_pairs_share_each_images_level():
    """Two draws with one generator (a Noise2Noise pair) share each image's sigma, drawn
    uniformly from 0 to max_sigma, while their noise differs."""
    fn = get_noise("gaussian_blind", max_sigma=50 / 255)
    generator = g(3)
    a, b = fn(GREY, generator), fn(GREY, generator)
    std_a = (a.float() - 128).flatten(1).std(1)
    std_b = (b.float() - 128).flatten(1).std(1)
    assert not torch.equal(a, b)
    assert torch.allclose(std_a, std_b, rtol=0.08, atol=0.5)  # 3072 values an image: each std within ~1.3%
    assert std_a.min() < 5 and std_a.max() > 45 and 20 < std_a.mean() < 30  # uniform on 0-50
    other = fn(GREY, g(4))  # another seed, other levels
    assert (other.float() - 128).flatten(1).std(1).sub(std_a).abs().max() > 10


def test_blind_gaussian_parameters():
    assert noise_params("gaussian_blind") == {"max_sigma": 50 / 255}
    with pytest.raises(ValueError, match="max_sigma"):
        noise_params("gaussian_blind", sigma=0.1)


@pytest.mark.parametrize("name, params, message", [
    ("gaussian", {"sigma": 25}, r"sigma=25 .*0 to 1.*25/255"),  # grey levels for 0-1 units: all noise
    ("gaussian", {"sigma": float("nan")}, r"sigma=nan"),
    ("gaussian", {"sigma": -0.1}, r"sigma=-0.1 "),
    ("gaussian_blind", {"max_sigma": 50}, r"max_sigma=50 .*50/255"),
    ("poisson", {"lam": 0}, r"lam=0 .*above 0"),
    ("impulse", {"p": 1.5}, r"p=1.5 .*0 to 1"),
    ("text", {"max_strings": 0}, r"max_strings=0 .*whole number from 1"),
    ("text", {"font_size": 2.5}, r"font_size=2.5 .*whole number from 1"),
    ("text", {"max_strings": float("inf")}, r"max_strings=inf .*whole number"),  # was: OverflowError
    ("text", {"font_size": float("inf")}, r"font_size=inf .*whole number"),
    ("poisson", {"lam": float("inf")}, r"lam=inf .*finite"),
])
def test_noise_parameters_outside_their_range_are_errors(name, params, message):
    """A value no noise model can use is refused by name (was: sigma=25 made pure noise,
    nan made garbage pixels, lam=0 NaN, all without a word)."""
    with pytest.raises(ValueError, match=message):
        noise_params(name, **params)


def test_noise_parameters_at_the_ends_of_their_range_are_fine():
    assert noise_params("gaussian", sigma=0) == {"sigma": 0}
    assert noise_params("impulse", p=1.0) == {"p": 1.0}
    assert noise_params("text", max_strings=1, font_size=6) == {"max_strings": 1, "font_size": 6}
    for name, defaults in DEFAULT_PARAMS.items():  # every parameter has a range, and its default fits it
        assert noise_params(name, **defaults) == defaults
    assert {k for defaults in DEFAULT_PARAMS.values() for k in defaults} == set(PARAM_RANGES)
