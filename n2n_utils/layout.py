"""Which memory layout trains fastest on this machine, channels_last or NCHW: measured once and
cached, because neither wins on every CPU.

On a 2-core AVX-512 CPU with native bf16, channels_last trains faster (fp32 at batch 8: 122 against
112 images/s; benchmarks/results/); on a 2-core AVX2 CPU it is slower at batch 8 (fp32: 55 against
62 images/s, issue 16), which made the engine's default slower than the plain loop there. So
`TrainConfig(channels_last="auto")` times forward and backward passes of the network in both
layouts, alternating them, the first time a (CPU, torch version, threads, model, image size,
precision, batch-size bucket) is trained, and keeps the answer in CACHE_DIR/layout.json: 8 chunks
of 32 images of 32x32 pixels (the same pixels in larger crops; one batch at least), a few seconds
on a 2-core CPU, once. Delete the file to
measure again (a measurement taken while other programs load the CPU can pick the slower layout).
CUDA and other accelerators are not measured: channels_last, which their mixed-precision kernels
prefer.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import config
from .config import autocast, cpu_info
from .files import write_json

LAYOUTS = {"channels_last": torch.channels_last, "NCHW": torch.contiguous_format}
PROBE_PIXELS = 32 * 32 * 32  # pixels per timed chunk: 32 images of 32x32, or as many in larger images
PROBE_ROUNDS = 3     # timed chunks per layout, alternating, after one untimed chunk each; best kept
MAX_BUCKET = 64      # batch sizes from 64 up share one measurement, taken at 64
MARGIN = 0.03        # NCHW must be this much faster to be chosen: a tie keeps channels_last


def cache_path() -> Path:
    return config.CACHE_DIR / "layout.json"


def batch_bucket(batch_size: int) -> int:
    """The power of two at or above `batch_size`, at most MAX_BUCKET: the batch a layout is timed at."""
    return min(MAX_BUCKET, 2 ** math.ceil(math.log2(max(batch_size, 1))))


def probe_key(model_name: str, shape: tuple[int, ...], precision: str, batch_size: int) -> str:
    """What a measurement depends on; a cached answer is reused only for the same key."""
    cpu = cpu_info()
    limited = f" (oneDNN {cpu['isa_limit']})" if cpu.get("isa_limit") else ""
    return (f"{cpu['model']}{limited} | torch {torch.__version__} | {cpu['torch_threads']} threads | {model_name} "
            f"| {'x'.join(map(str, shape))} | {precision} | batch {batch_bucket(batch_size)}")


def time_layouts(model: nn.Module, shape: tuple[int, ...], precision: str, batch_size: int,
                 device: torch.device) -> dict[str, float]:
    """Training images/s (forward, MSE loss, backward; no optimizer step, which the layout does
    not change) of copies of `model` in each layout, on random float 0-1 images of `shape`
    (C, H, W). `model` and the global random state are left as they were."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, *shape, generator=generator).to(device)
    steps = max(1, PROBE_PIXELS // (batch_size * shape[-2] * shape[-1]))  # one step at least
    copies = {name: copy.deepcopy(model).to(device, memory_format=fmt).train() for name, fmt in LAYOUTS.items()}
    best = dict.fromkeys(LAYOUTS, 0.0)
    for chunk in range(PROBE_ROUNDS + 1):  # chunk 0 warms up (oneDNN picks its kernels on first use)
        for name, fmt in LAYOUTS.items():
            net, inputs = copies[name], x.contiguous(memory_format=fmt)
            start = time.perf_counter()
            for _ in range(steps):
                with autocast(device, precision):
                    out = net(inputs)
                F.mse_loss(out.float(), x).backward()
                net.zero_grad(set_to_none=True)
            if chunk:
                best[name] = max(best[name], steps * batch_size / (time.perf_counter() - start))
    return best


def fastest_layout(model: nn.Module, model_name: str, shape: tuple[int, ...], precision: str,
                   batch_size: int, device: torch.device) -> str:
    """'channels_last' or 'NCHW', whichever trains `model` faster on `device` at this precision
    ('fp32', 'bf16', 'fp16': resolved, not 'auto') and batch size: measured on a CPU the first
    time (time_layouts) and read from the cache after; channels_last elsewhere."""
    if device.type != "cpu":
        return "channels_last"
    path, key = cache_path(), probe_key(model_name, tuple(shape), precision, batch_size)
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}  # none yet, or unreadable: measured again and rewritten
    if not isinstance(cache.get(key), dict) or cache[key].get("layout") not in LAYOUTS:
        speeds = time_layouts(model, tuple(shape), precision, batch_bucket(batch_size), device)
        faster = "NCHW" if speeds["NCHW"] > (1 + MARGIN) * speeds["channels_last"] else "channels_last"
        cache[key] = {"layout": faster, "images_per_s": speeds, "batch": batch_bucket(batch_size),
                      "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_json(path, cache)
    return cache[key]["layout"]
