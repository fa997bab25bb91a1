"""EE-559 Miniproject 1: Noise2Noise denoising with the Table I ResUNet.

Images are tensors (N, 3, H, W) with values 0-255 (any dtype); the network works on float 0-1.

This file stands alone: it imports only torch and the standard library, so that it runs
without the n2n-study package it was exported from (`python -m n2n_utils export-course`).
That is why it holds its own minimal copy of the network (n2n_utils/models.py, with the same
parameter names, which tests/test_course.py checks by loading one state dict into both) and
of the training loop (n2n_utils/training.py). Change the network there first, then here.
"""

import operator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

MULTIPLE = 32  # 2 ** number of poolings: H and W are padded up to a multiple of this
PIXELS_PER_BATCH = 2**20  # predict() runs 1024 images of 32x32, or 4 of 512x512, at a time


def conv3x3(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True))


def up2x2(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(channels, channels, 2, stride=2), nn.ReLU(inplace=True))


class ResUNet(nn.Module):
    """Table I of the report: 1,147,539 parameters; float 0-1 in and out, H, W multiples of 32."""

    def __init__(self):
        super().__init__()
        self.enc0 = conv3x3(3, 48)
        self.enc1 = conv3x3(48, 48)
        self.enc2, self.enc3, self.enc4, self.enc5, self.enc6 = (conv3x3(48, 48) for _ in range(5))
        self.pool = nn.MaxPool2d(2)
        self.up5 = up2x2(48)
        self.dec5 = nn.Sequential(conv3x3(96, 96), conv3x3(96, 96))
        self.up4, self.up3, self.up2, self.up1 = (up2x2(96) for _ in range(4))
        self.dec4, self.dec3, self.dec2 = (nn.Sequential(conv3x3(144, 96), conv3x3(96, 96))
                                           for _ in range(3))
        self.dec1 = nn.Sequential(conv3x3(99, 64), conv3x3(64, 32))
        self.final = nn.Conv2d(32, 3, 1)
        for module in self.modules():  # He initialisation, as n2n_utils.models.ResUNet
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="linear" if module is self.final else "relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip0 = x                                              # (B, 3, H, W)
        skip1 = x = self.pool(self.enc1(self.enc0(x)))         # (B, 48, H/2, W/2)
        skip2 = x = self.pool(self.enc2(x))                    # (B, 48, H/4, W/4)
        skip3 = x = self.pool(self.enc3(x))                    # (B, 48, H/8, W/8)
        skip4 = x = self.pool(self.enc4(x))                    # (B, 48, H/16, W/16)
        x = self.enc6(self.pool(self.enc5(x)))                 # (B, 48, H/32, W/32)
        x = self.dec5(torch.cat([self.up5(x), skip4], 1))      # (B, 96, H/16, W/16)
        x = self.dec4(torch.cat([self.up4(x), skip3], 1))      # (B, 96, H/8, W/8)
        x = self.dec3(torch.cat([self.up3(x), skip2], 1))      # (B, 96, H/4, W/4)
        x = self.dec2(torch.cat([self.up2(x), skip1], 1))      # (B, 96, H/2, W/2)
        x = self.dec1(torch.cat([self.up1(x), skip0], 1))      # (B, 32, H, W)
        return F.relu(self.final(x))                           # (B, 3, H, W)


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Element k (0-7) of the square's symmetry group: rotate by 90 * (k % 4) degrees, then
    mirror if k >= 4. Applied alike to input and target, it keeps a Noise2Noise pair valid."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if k >= 4 else x


def check_images(images: torch.Tensor, name: str) -> None:
    """The contract of train() and predict(): a tensor (N, 3, H, W) of RGB images, H and W >= 1,
    values 0-255 (uint8, or any real dtype; NaN is not a value in 0-255). Anything else is a
    ValueError that says so."""
    contract = f"{name} should be a tensor (N, 3, H, W) of RGB images with values 0-255 and H, W >= 1"
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{contract}; got {type(images).__name__}")
    if images.is_complex() or images.dtype == torch.bool:
        raise ValueError(f"{contract}; got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[1] != 3 or min(images.shape[-2:], default=0) < 1:
        hint = (" (one image: add the batch dimension, images[None])" if images.ndim == 3 else
                " (grey: repeat it to 3 channels; RGBA: drop alpha)" if images.ndim == 4 and images.shape[1] != 3
                else "")
        raise ValueError(f"{contract}; got shape {tuple(images.shape)}{hint}")
    if images.is_floating_point() and images.isnan().any():  # NaN compares false with 0 and 255
        raise ValueError(f"{contract}; got NaN")
    if images.numel() and (images.min() < 0 or images.max() > 255):
        raise ValueError(f"{contract}; got values {float(images.min()):g} to {float(images.max()):g}")


class Model:
    """The course's interface: Model(), load_pretrained_model(), train(), predict()."""

    # The study's recipe (n2n_utils.training.TrainConfig). One epoch of 1,000 natural32 pairs
    # from scratch gains 3 to 4.5 dB over the noisy input (seeds 0-2; batch 4 at lr 1e-3: 4.3-5.3).
    lr = 8e-4  # Adam
    batch_size = 8

    def __init__(self) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = ResUNet().to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def load_pretrained_model(self) -> None:
        """Load the parameters saved in bestmodel.pth, next to this file."""
        path = Path(__file__).resolve().parent / "bestmodel.pth"
        self.model.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """float 0-1 (B, 3, H, W), any H and W: reflect-pad to a multiple of 32, crop back."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % MULTIPLE, (-w) % MULTIPLE
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        return self.model(x)[..., :h, :w]

    def train(self, train_input: torch.Tensor, train_target: torch.Tensor, num_epochs: int) -> None:
        """Noise2Noise: learn to map train_input to train_target, two noisy versions (N, 3, H, W)
        of the same images, values 0-255. Adam, MSE loss, one random dihedral transform a batch.
        num_epochs: a whole number, 0 or more (a ValueError otherwise)."""
        try:
            epochs = operator.index(num_epochs)  # an int or a numpy int; not 1.5, "2" or None
        except TypeError:
            epochs = -1
        if epochs < 0:
            raise ValueError(f"num_epochs should be a whole number, 0 or more; got {num_epochs!r}")
        check_images(train_input, "train_input")
        check_images(train_target, "train_target")
        if train_input.shape != train_target.shape:
            raise ValueError(f"train_input and train_target should have the same shape; got "
                             f"{tuple(train_input.shape)} and {tuple(train_target.shape)}")
        self.model.train()
        n = len(train_input)
        for _ in range(epochs):
            order = torch.randperm(n)
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                k = int(torch.randint(8, ()))
                x = dihedral(train_input[idx].to(self.device).float() / 255, k)
                y = dihedral(train_target[idx].to(self.device).float() / 255, k)
                loss = F.mse_loss(self._forward(x), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
        self.model.eval()

    @torch.no_grad()
    def predict(self, test_input: torch.Tensor) -> torch.Tensor:
        """Denoise (N, 3, H, W) images with values 0-255; returns float (N, 3, H, W) in
        [0, 255] on test_input's device. Anything else is a ValueError stating this contract."""
        check_images(test_input, "test_input")
        self.model.eval()
        per_batch = max(1, PIXELS_PER_BATCH // (test_input.shape[-2] * test_input.shape[-1]))
        out = [self._forward(x.to(self.device).float() / 255).clamp(0, 1).mul(255).to(test_input.device)
               for x in test_input.split(per_batch)]
        return torch.cat(out) if out else test_input.float()
