"""Which way of training K ResUNets at once is fastest here: the measurement behind
n2n_utils.many's choice of route.

    python -m benchmarks.many_routes [--k 3 6] [--batch 8 64] [--precision fp32 bf16] [--steps 20]

Routes, each timed on the same K random batches per step (forward, MSE, backward, Adam):
- `sequential`: K separate networks, one after another (what a sweep does today);
- `vmap`: torch.func.functional_call under torch.vmap over the K networks' parameters,
  stacked every step from the networks' own tensors (so each keeps its own Adam);
- `grouped`: one network whose every convolution has groups=K, written out by hand (K groups
  are K independent networks; concatenations and the transposed convolution regroup).
Prints training images/s (all K networks' images) per route and writes JSON when --out is given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from n2n_utils.config import autocast, describe_device, resolve_device
from n2n_utils.files import provenance, write_json
from n2n_utils.models import ResUNet


def _networks(k: int, device: torch.device) -> list[nn.Module]:
    nets = []
    for seed in range(k):
        torch.manual_seed(seed)
        nets.append(ResUNet().to(device))
    return nets


def sequential_step(nets, optims, xs, ys, device, precision):
    for net, opt, x, y in zip(nets, optims, xs, ys, strict=True):
        with autocast(device, precision):
            out = net(x)
        loss = F.mse_loss(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def vmap_step(nets, optims, xs, ys, device, precision):
    names = [n for n, _ in nets[0].named_parameters()]
    stacked = {n: torch.stack([dict(net.named_parameters())[n] for net in nets]) for n in names}

    def one(params, x):
        return torch.func.functional_call(nets[0], params, (x,))

    with autocast(device, precision):
        out = torch.vmap(one)(stacked, xs)
    loss = F.mse_loss(out.float(), ys, reduction="none").mean(dim=(1, 2, 3, 4)).sum()
    for opt in optims:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optims:
        opt.step()


def _grouped_forward(nets, x, k):
    """The K networks as one with groups=K: x is (B, K*3, H, W), output (B, K*3, H, W)."""
    def w(path):
        return torch.cat([net.get_parameter(path) for net in nets])

    def conv(x, prefix, padding=1):
        return F.conv2d(x, w(prefix + ".weight"), w(prefix + ".bias"), padding=padding, groups=k)

    def block(x, prefix):  # conv3x3 + ReLU
        return F.relu(conv(x, prefix + ".0"))

    def up(x, prefix):  # ConvTranspose2x2 + ReLU, as a grouped 1x1 conv and a pixel shuffle
        weight = torch.cat([net.get_parameter(prefix + ".0.weight").permute(1, 2, 3, 0).reshape(
            -1, net.get_parameter(prefix + ".0.weight").shape[0], 1, 1) for net in nets])
        bias = torch.cat([net.get_parameter(prefix + ".0.bias").repeat_interleave(4) for net in nets])
        return F.relu(F.pixel_shuffle(F.conv2d(x, weight, bias, groups=k), 2))

    def cat(a, b):  # concatenate per group
        n, _, h, wd = a.shape
        return torch.cat([a.view(n, k, -1, h, wd), b.view(n, k, -1, h, wd)], 2).view(n, -1, h, wd)

    skip0 = x
    x = block(block(x, "enc0"), "enc1")
    skip1 = x = F.max_pool2d(x, 2)
    skip2 = x = F.max_pool2d(block(x, "enc2"), 2)
    skip3 = x = F.max_pool2d(block(x, "enc3"), 2)
    skip4 = x = F.max_pool2d(block(x, "enc4"), 2)
    x = block(F.max_pool2d(block(x, "enc5"), 2), "enc6")
    for level, skip in ((5, skip4), (4, skip3), (3, skip2), (2, skip1), (1, skip0)):
        x = cat(up(x, f"up{level}"), skip)
        x = block(block(x, f"dec{level}.0"), f"dec{level}.1")
    return F.relu(conv(x, "final", padding=0))


def grouped_step(nets, optims, xs, ys, device, precision):
    k, b = xs.shape[:2]
    x = xs.transpose(0, 1).reshape(b, k * 3, *xs.shape[-2:]).contiguous(memory_format=torch.channels_last)
    with autocast(device, precision):
        out = _grouped_forward(nets, x, k)
    out = out.float().view(b, k, 3, *xs.shape[-2:]).transpose(0, 1)
    loss = F.mse_loss(out, ys, reduction="none").mean(dim=(1, 2, 3, 4)).sum()
    for opt in optims:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optims:
        opt.step()


ROUTES = {"sequential": sequential_step, "vmap": vmap_step, "grouped": grouped_step}


def check_routes_agree(device: torch.device) -> float:
    """Largest difference between the routes' outputs for the same networks and inputs (fp32)."""
    nets = _networks(2, device)
    xs = torch.rand(2, 4, 3, 32, 32, device=device)
    with torch.no_grad():
        seq = torch.stack([net(x) for net, x in zip(nets, xs, strict=True)])
        vm = torch.vmap(lambda p, x: torch.func.functional_call(nets[0], p, (x,)))(
            {n: torch.stack([dict(net.named_parameters())[n] for net in nets]) for n, _ in nets[0].named_parameters()},
            xs)
        gr = _grouped_forward(nets, xs.transpose(0, 1).reshape(4, 6, 32, 32), 2).view(4, 2, 3, 32, 32).transpose(0, 1)
    return max(float((seq - vm).abs().max()), float((seq - gr).abs().max()))


def time_route(route: str, k: int, batch: int, precision: str, steps: int, device: torch.device) -> float:
    """Training images/s (all K networks together) of `route`, after 3 warm-up steps."""
    nets = _networks(k, device)
    if route == "sequential":
        nets = [net.to(memory_format=torch.channels_last) for net in nets]
    optims = [torch.optim.Adam(net.parameters(), lr=1e-4) for net in nets]
    xs = torch.rand(k, batch, 3, 32, 32, device=device)
    ys = torch.rand(k, batch, 3, 32, 32, device=device)
    if route == "sequential":
        xs_in = [x.contiguous(memory_format=torch.channels_last) for x in xs]
    else:
        xs_in = xs
    step = ROUTES[route]
    for _ in range(3):
        step(nets, optims, xs_in, ys, device, precision)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(nets, optims, xs_in, ys, device, precision)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * k * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many_routes", description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=list(ROUTES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    print(f"{describe_device(device)}; routes agree to {check_routes_agree(device):.1e} (fp32 outputs)", flush=True)
    rows = []
    for precision in args.precision:
        for batch in args.batch:
            for k in args.k:
                for route in args.routes:
                    ips = time_route(route, k, batch, precision, max(2, args.steps * 8 // batch), device)
                    rows.append({"route": route, "k": k, "batch": batch, "precision": precision,
                                 "images_per_s": ips})
                    print(f"{precision} batch {batch:4d} K={k}: {route:10s} {ips:8.0f} images/s", flush=True)
    if args.out:
        write_json(args.out, {"provenance": provenance(benchmark="many_routes", device=describe_device(device),
                                                       torch_threads=torch.get_num_threads()), "rows": rows})


if __name__ == "__main__":
    main()
