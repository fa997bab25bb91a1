import pytest
import torch

from n2n_utils.models import ResUNet, count_parameters, get_model, pad_to_multiple, predict


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
