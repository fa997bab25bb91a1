import pytest
import torch
from torch import nn

from n2n_utils.models import ConvTranspose2x2, ResUNet, count_parameters, get_model, pad_to_multiple, predict


def test_table1_parameter_count():
    assert count_parameters(ResUNet(3, 3)) == 1_147_539


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 64, 96)])
def test_shapes_and_final_activation(shape):
    x = torch.rand(shape)
    relu = ResUNet(final_activation="relu")
    assert relu(x).shape == shape and (relu(x) >= 0).all()
    with torch.no_grad():
        linear = ResUNet(final_activation="linear")
        linear.final.bias.fill_(-10.0)
        assert (linear(x) < 0).any()


def test_other_sizes_need_padding():
    with pytest.raises(ValueError, match="multiples of 32"):
        ResUNet()(torch.rand(1, 3, 30, 32))
    x, size = pad_to_multiple(torch.rand(1, 3, 30, 45))
    assert x.shape[-2:] == (32, 64) and size == (30, 45)
    tiny, _ = pad_to_multiple(torch.rand(1, 3, 5, 7))  # too small to reflect: replicate
    assert tiny.shape[-2:] == (32, 32)
    out = predict(ResUNet(), torch.randint(0, 256, (2, 3, 30, 45), dtype=torch.uint8))
    assert out.shape == (2, 3, 30, 45) and 0 <= out.min() and out.max() <= 1


def test_get_model_by_name():
    assert isinstance(get_model("resunet", final_activation="linear"), ResUNet)
    with pytest.raises(ValueError, match="choose one of"):
        get_model("dncnn")


@pytest.mark.parametrize("channels_last", [False, True])
def test_transposed_conv_as_pixel_shuffle_is_the_same_function(channels_last):
    torch.manual_seed(0)
    fast = ConvTranspose2x2(8)
    plain = nn.ConvTranspose2d(8, 8, 2, stride=2)
    plain.load_state_dict(fast.state_dict())  # the same parameters, in the same layout
    x = torch.randn(2, 8, 5, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x_fast, x_plain = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_fast, y_plain = fast(x_fast), plain(x_plain)
    assert y_fast.shape == (2, 8, 10, 14)
    torch.testing.assert_close(y_fast, y_plain, rtol=1e-5, atol=1e-6)
    grad = torch.randn_like(y_plain)
    y_fast.backward(grad)
    y_plain.backward(grad)
    torch.testing.assert_close(x_fast.grad, x_plain.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.weight.grad, plain.weight.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.bias.grad, plain.bias.grad, rtol=1e-5, atol=1e-5)


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
