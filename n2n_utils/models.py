"""The Table I ResUNet of the EE-559 report (the Noise2Noise paper's network, with max-pooling,
transposed-convolution upsampling, ReLU and a final 1x1 convolution).

Read bottom-up: the small blocks first, the network last, shapes on the lines that change them.
The network's input is float images in 0-1, (B, C, H, W), with H and W multiples of 32 (five
2x2 poolings); its output is on the same scale, not clamped. Running a network on images of
any size is n2n_utils.inference's `predict`, which takes values 0-255 (uint8, or floats holding
0-255), divides them by 255 for the network, and returns its output clamped to 0-1.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

FinalActivation = Literal["relu", "linear"]
MULTIPLE = 32  # 2 ** number of poolings


def conv3x3(c_in: int, c_out: int) -> nn.Sequential:
    """Conv2D(3x3, same padding) + ReLU: one row of Table I."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True))


class ConvTranspose2x2(nn.ConvTranspose2d):
    """Conv2DTranspose(2x2, stride 2), computed as a 1x1 convolution to 4x the channels followed
    by a pixel shuffle. With kernel = stride the output pixels do not overlap, so the two are the
    same function with the same parameters (tests/test_models.py checks outputs and gradients).
    On the 2-core development CPU the whole bf16 training step at batch 64 ran about 4% faster
    this way (measured when it was introduced, at equal settings). The weight keeps
    ConvTranspose2d's (in, out, 2, 2) layout, so state dicts load into either."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (in, out, i, j) -> (out * 4, in, 1, 1) in pixel_shuffle's (out, i, j) channel order
        weight = self.weight.permute(1, 2, 3, 0).reshape(-1, self.in_channels, 1, 1)
        return F.pixel_shuffle(F.conv2d(x, weight, self.bias.repeat_interleave(4)), 2)


def up2x2(channels: int) -> nn.Sequential:
    """Conv2DTranspose(2x2, stride 2) + ReLU: doubles H and W, keeps the channels."""
    return nn.Sequential(ConvTranspose2x2(channels), nn.ReLU(inplace=True))


class ResUNet(nn.Module):
    """Table I. For n = m = 3: 1,147,539 parameters."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3,
                 final_activation: FinalActivation = "relu"):
        super().__init__()
        if final_activation not in ("relu", "linear"):
            raise ValueError(f"final_activation must be 'relu' or 'linear', got {final_activation!r}")
        n, m = in_channels, out_channels
        self.final_activation = final_activation
        self.enc0 = conv3x3(n, 48)
        self.enc1 = conv3x3(48, 48)
        self.enc2, self.enc3, self.enc4, self.enc5, self.enc6 = (conv3x3(48, 48) for _ in range(5))
        self.pool = nn.MaxPool2d(2)
        self.up5 = up2x2(48)
        self.dec5 = nn.Sequential(conv3x3(96, 96), conv3x3(96, 96))
        self.up4, self.up3, self.up2, self.up1 = (up2x2(96) for _ in range(4))
        self.dec4, self.dec3, self.dec2 = (nn.Sequential(conv3x3(144, 96), conv3x3(96, 96))
                                           for _ in range(3))
        self.dec1 = nn.Sequential(conv3x3(96 + n, 64), conv3x3(64, 32))
        self.final = nn.Conv2d(32, m, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation, as the Noise2Noise paper uses. PyTorch's default init shrinks the
        signal through these 17 layers, and the network then spends its first hundreds of
        steps predicting the mean grey before it learns to denoise."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nonlinearity = "linear" if module is self.final else "relu"
                nn.init.kaiming_normal_(module.weight, nonlinearity=nonlinearity)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % MULTIPLE or x.shape[-1] % MULTIPLE:
            raise ValueError(f"ResUNet needs H and W that are multiples of {MULTIPLE}, got "
                             f"{tuple(x.shape[-2:])}; use n2n_utils.inference.predict(), which pads")
        skip0 = x                                              # (B, n, H, W)
        x = self.enc1(self.enc0(x))                            # (B, 48, H, W)
        skip1 = x = self.pool(x)                               # (B, 48, H/2, W/2)   Pool1
        skip2 = x = self.pool(self.enc2(x))                    # (B, 48, H/4, W/4)   Pool2
        skip3 = x = self.pool(self.enc3(x))                    # (B, 48, H/8, W/8)   Pool3
        skip4 = x = self.pool(self.enc4(x))                    # (B, 48, H/16, W/16) Pool4
        x = self.pool(self.enc5(x))                            # (B, 48, H/32, W/32) Pool5
        x = self.enc6(x)                                       # (B, 48, H/32, W/32)
        x = self.dec5(torch.cat([self.up5(x), skip4], 1))      # (B, 96, H/16, W/16)
        x = self.dec4(torch.cat([self.up4(x), skip3], 1))      # (B, 96, H/8, W/8)
        x = self.dec3(torch.cat([self.up3(x), skip2], 1))      # (B, 96, H/4, W/4)
        x = self.dec2(torch.cat([self.up2(x), skip1], 1))      # (B, 96, H/2, W/2)
        x = self.dec1(torch.cat([self.up1(x), skip0], 1))      # (B, 32, H, W)
        x = self.final(x)                                      # (B, m, H, W)
        return F.relu(x) if self.final_activation == "relu" else x


MODELS = {"resunet": ResUNet}


def get_model(name: str = "resunet", **kwargs) -> nn.Module:
    """Build a network by name, e.g. get_model("resunet", final_activation="linear")."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_table(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 32, 32)) -> list[dict]:
    """Table I from the code: each convolution, pooling and upsampling with its output shape,
    recorded by running one input through the network (so the table cannot drift)."""
    rows, hooks = [], []
    names = {module: name for name, module in model.named_modules()}

    def record(module, _inputs, output):
        if isinstance(module, nn.Conv2d):
            kind = f"Conv2D({module.kernel_size[0]}x{module.kernel_size[1]})"
        elif isinstance(module, nn.ConvTranspose2d):
            kind = f"Conv2DTranspose({module.kernel_size[0]}x{module.kernel_size[1]})"
        else:
            kind = "MaxPooling2D(2x2)"
        rows.append({"layer": names[module], "configuration": kind,
                     "output_shape": tuple(output.shape[1:]),
                     "parameters": sum(p.numel() for p in module.parameters())})

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d)):
            hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            model(torch.zeros(input_shape, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    return rows
