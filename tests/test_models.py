import pytest
import torch
from torch import nn

from n2n_utils.models import ConvTranspose2x2, ResUNet, count_parameters, get_model


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


def test_other_sizes_are_refused_with_a_pointer_to_predict():
    with pytest.raises(ValueError, match="multiples of 32.*inference.predict"):
        ResUNet()(torch.rand(1, 3, 30, 32))


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
