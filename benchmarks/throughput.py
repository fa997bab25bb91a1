"""Training and inference throughput of the Table I ResUNet, measured side by side in one run.

    python -m benchmarks.throughput --config full     # on a quiet machine
    python -m benchmarks.throughput --config tiny --out /tmp/tiny.json   # every code path, in seconds

Training settings, one row each:
- `reference`: the report's setting done the common way: a per-sample Dataset and a DataLoader
  (batch 8, shuffle, default collate), fp32, NCHW, Adam 8e-4, MSE, `loss.item()` every step.
- `engine ...`: `n2n_utils.training.train` at its default config (auto precision and layout) and
  with its fast options (bf16/fp16 autocast, larger batches; on CUDA also torch.compile and CUDA
  graphs); on a CPU both layouts (NCHW, channels_last) at batch 8 and 32 in fp32 and bf16.
  The engine also draws a dihedral augmentation for every image, which the reference does not.

For each: training images/s after warm-up (validation excluded), speedup over the reference,
achieved GFLOP/s (FLOPs counted by FlopCounterMode) as a fraction of the peak of a large matmul
in the same precision, and validation PSNR after the same number of epochs, so that a setting
which is fast but learns worse shows. Then inference images/s on 32x32 batches, tiled denoising
megapixels/s (when n2n_utils.inference exists) and the peak memory of training at the default.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from n2n_utils.config import (
    BENCHMARK_RESULTS_DIR,
    SlowPrecisionWarning,
    cpu_info,
    cpu_kind,
    describe_cpu,
    describe_device,
    native_precision,
    resolve_device,
    resolve_precision,
)
from n2n_utils.data import DenoisingData, load_dataset
from n2n_utils.files import provenance, write_json
from n2n_utils.inference import denoise_array, predict
from n2n_utils.layout import fastest_layout
from n2n_utils.metrics import mean_ci
from n2n_utils.models import get_model
from n2n_utils.sweeps import NO_CI
from n2n_utils.training import TrainConfig, build_model, train

RESULTS_DIR = BENCHMARK_RESULTS_DIR
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
CUDA_MATMUL_N = 8192  # a 2048-wide matmul cannot fill a data-centre GPU
EMULATED_SHARE = 0.1  # a precision the device only emulates is ~10x slower: timed on a tenth of the images


@dataclass(frozen=True)
class Bench:
    warmup_steps: int   # untimed steps before each timed run (kernel choice, allocator, compiling)
    rounds: int         # every setting is timed once per round, round-robin; the median is kept
    timed_images: int   # a timed run trains on at least this many images ...
    min_steps: int      # ... and takes at least this many steps
    psnr_pairs: int     # natural32 gaussian training pairs of the quality check
    psnr_val: int       # its validation crops
    psnr_epochs: int
    psnr_seeds: tuple[int, ...]  # each precision is compared with fp32 seed by seed (paired)
    infer_batch: int    # 32x32 images per inference batch
    infer_reps: int
    matmul_n: int       # side of the square matmul whose speed is the CPU's peak (CUDA: CUDA_MATMUL_N)
    matmul_reps: int
    big_image: int      # side (pixels) of the image for tiled denoising
    tile: int
    memory_steps: int   # training steps of the memory probe
    max_batch: int      # settings with larger batches are left out


CONFIGS = {
    # The test's end-to-end run: every code path at the least work that runs it (one timed step
    # per setting, PSNR after 16 pairs), numbers meaningless.
    "tiny": Bench(warmup_steps=1, rounds=1, timed_images=8, min_steps=1, psnr_pairs=16, psnr_val=8,
                  psnr_epochs=1, psnr_seeds=(0,),
                  infer_batch=16, infer_reps=1, matmul_n=512, matmul_reps=2, big_image=128, tile=64,
                  memory_steps=2, max_batch=32),
    # For a quiet machine: 3 rounds of 210 steps at batch 8, 60 at batches >= 32. On a shared VM
    # one timing can be 10% off; the rounds show the spread.
    "full": Bench(warmup_steps=10, rounds=3, timed_images=1600, min_steps=50, psnr_pairs=2000, psnr_val=500,
                  psnr_epochs=2, psnr_seeds=(0, 1, 2),
                  infer_batch=500, infer_reps=3, matmul_n=2048, matmul_reps=10, big_image=1024, tile=256,
                  memory_steps=50, max_batch=1024),
}


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Setting:
    batch: int = 8
    precision: str = "fp32"       # autocast dtype: fp32 | bf16 | fp16 (CUDA only)
    channels_last: bool | str = True  # or "auto": the engine measures which layout is faster
    compile: str | None = None    # torch.compile mode; "reduce-overhead" also captures CUDA graphs
    reference: bool = False       # the common DataLoader loop instead of the engine

    @property
    def name(self) -> str:
        if self.reference:
            return "reference"
        words = ["engine", self.precision, f"b{self.batch}"]
        words += {True: [], False: ["NCHW"]}.get(self.channels_last, ["auto-layout"])
        words += [f"compile:{self.compile}"] if self.compile else []
        return " ".join(words) + (" (default)" if self == DEFAULT else "")


REFERENCE = Setting(channels_last=False, reference=True)
DEFAULT = Setting(TrainConfig.batch_size, TrainConfig.precision, TrainConfig.channels_last)


def settings_for(device: torch.device, max_batch: int) -> list[Setting]:
    """The training settings measured on this device; the engine's default is always one. On a
    CPU: both layouts at batch 8 and 32 in fp32 and bf16 (the choice n2n_utils.layout makes),
    and bf16 at larger batches, where the CPU computes it natively; where it only emulates bf16,
    which the engine then never picks, bf16 at batch 8 alone shows what asking for it costs
    (its batch-32 rows took minutes of a full run at about 5 images/s)."""
    if device.type == "cuda":
        fast = [Setting(channels_last=False), Setting()]
        fast += [Setting(b, p) for b in (8, 128, 512) for p in ("bf16", "fp16")]
        fast += [Setting(512, "bf16", compile="default"), Setting(512, "bf16", compile="reduce-overhead")]
    else:  # no torch.compile on the CPU: minutes of C++ compiling on a small machine
        native = native_precision("bf16", device)
        fast = [Setting(b, p, layout) for p in ("fp32", "bf16") for b in (8, 32) for layout in (False, True)
                if p == "fp32" or b == 8 or native]
        fast += [Setting(b, "bf16") for b in (64, 128)] if native else []
    return [s for s in dict.fromkeys([REFERENCE, DEFAULT, *fast]) if s.batch <= max_batch]  # no duplicates


def emulated(s: Setting, device: torch.device) -> bool:
    """Whether `s` asks for a precision that `device` only emulates (slowly). "auto" never does.
    Asks without resolve_precision's warning: the benchmark times such a precision on purpose."""
    return s.precision != "auto" and native_precision(s.precision, device) is False


def layout_of(s: Setting, device: torch.device) -> str:
    """The layout `s` trains in: 'channels_last' or 'NCHW', for "auto" the one the engine chose
    (read from its cache, filled when `s` was timed)."""
    if s.channels_last != "auto":
        return "channels_last" if s.channels_last else "NCHW"
    precision = resolve_precision(s.precision, device)
    return fastest_layout(get_model("resunet"), "resunet", (3, 32, 32), precision, s.batch, device)


def timed_steps(batch: int, bench: Bench, share: float = 1.0) -> int:
    """Steps of a timed run: `share` of the bench's images and steps (a slow emulated precision
    gets EMULATED_SHARE), at least one."""
    return max(1, math.ceil(share * bench.min_steps), math.ceil(share * bench.timed_images / batch))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _repeat(data: DenoisingData, n: int, n_val: int = 8) -> DenoisingData:
    """`n` training pairs cycled from `data` (their content does not change the speed) and a
    few validation crops, so that train()'s per-epoch validation costs next to nothing."""
    idx = torch.arange(n) % len(data.train_input)
    return DenoisingData(data.train_input[idx], data.train_target[idx], data.val_input[:n_val],
                         data.val_clean[:n_val], meta=data.meta)


def _train_config(s: Setting, device: torch.device, epochs: int, seed: int = 0) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=s.batch, precision=s.precision,
                       channels_last=s.channels_last, device=str(device), progress=False, seed=seed)


def _build(s: Setting, config: TrainConfig) -> nn.Module:
    model = build_model(config)
    return torch.compile(model, mode=s.compile) if s.compile else model


# --------------------------------------------------------------------------- training speed


class PairDataset(Dataset):
    """The common way: one uint8 pair at a time, converted to float 0-1 as it is fetched."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor):
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[i].float() / 255.0, self.targets[i].float() / 255.0


def time_reference(data: DenoisingData, bench: Bench, device: torch.device) -> float:
    """Training images/s of the report's setting written the common way (module docstring)."""
    batch, warmup, steps = REFERENCE.batch, bench.warmup_steps, timed_steps(REFERENCE.batch, bench)
    pairs = _repeat(data, (warmup + steps) * batch)
    torch.manual_seed(0)
    loader = DataLoader(PairDataset(pairs.train_input, pairs.train_target), batch_size=batch, shuffle=True)
    model = get_model("resunet").to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=8e-4)  # the report's learning rate
    losses = []
    for i, (x, y) in enumerate(loader):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        x, y = x.to(device), y.to(device)
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # the usual running-loss bookkeeping: a device sync per step
    return steps * batch / (time.perf_counter() - start)


def time_engine(s: Setting, data: DenoisingData, bench: Bench, device: torch.device) -> float:
    """Training images/s of train() in setting `s`: a warm-up run, then a timed run that goes on
    with the same model. Read from train()'s history, whose clock stops before validation."""
    config = _train_config(s, device, epochs=1)
    model = _build(s, config)
    share = EMULATED_SHARE if emulated(s, device) else 1.0
    warmup = round(share * bench.warmup_steps)  # an emulated precision's in the tiny config: none
    if warmup:
        train(_repeat(data, warmup * s.batch), config, model=model)
    timed = train(_repeat(data, timed_steps(s.batch, bench, share) * s.batch), config, model=model)
    return float(timed.history["images_per_s"].iloc[0])


def measure_speed(s: Setting, data: DenoisingData, bench: Bench, device: torch.device) -> float | str:
    """Images/s of one timed run, or for a torch.compile setting that fails (no working
    toolchain), the error."""
    try:
        speed = time_reference(data, bench, device) if s.reference else time_engine(s, data, bench, device)
    except Exception as err:
        if not s.compile:
            raise
        print(f"  {s.name:<36} failed: {type(err).__name__}", flush=True)
        return f"{type(err).__name__}: {err}"
    print(f"  {s.name:<36} {speed:8.1f} images/s", flush=True)
    return speed


def quality_settings(settings: list[Setting], device: torch.device,
                     batches: set[int] | None = None) -> dict[Setting, Setting]:
    """The settings whose PSNR is compared: each lower precision with an fp32 twin at its batch
    size (so after as many steps), and those twins, at `batches` only when given (the default's
    and the fastest: the others would double the benchmark's time); not an emulated precision,
    whose training would take hours. Each maps to the setting that is trained for it: "auto" does the arithmetic
    of the precision it resolves to, and a layout that of channels_last, so neither is trained twice."""
    engine = [s for s in settings if not s.reference and s.channels_last is not False and not s.compile
              and not emulated(s, device)]
    fp32_batches = {s.batch for s in engine if s.precision == "fp32"}
    low_batches = {s.batch for s in engine if s.precision != "fp32"}
    compared = [s for s in engine if s.batch in fp32_batches & low_batches and (batches is None or s.batch in batches)]
    return {s: replace(s, precision=resolve_precision(s.precision, device), channels_last=True) for s in compared}


def time_settings(settings: list[Setting], data: DenoisingData, bench: Bench,
                  device: torch.device) -> dict[Setting, list[float | str]]:
    """bench.rounds timed runs of each setting, one round over all settings after another."""
    runs: dict[Setting, list[float | str]] = {s: [] for s in settings}
    for r in range(bench.rounds):
        if bench.rounds > 1:
            print(f" round {r + 1} of {bench.rounds}", flush=True)
        for s in settings:
            runs[s].append(measure_speed(s, data, bench, device))
    return runs


def _median(values: list[float | str]) -> float | str:
    """The median images/s, or the error of a setting that failed."""
    errors = [v for v in values if isinstance(v, str)]
    return errors[0] if errors else float(np.median(values))


def measure_psnr(s: Setting, data: DenoisingData, bench: Bench, device: torch.device) -> list[float]:
    """Validation PSNR (dB) after bench.psnr_epochs epochs of train() in setting `s`, one per seed."""
    values = []
    for seed in bench.psnr_seeds:
        config = _train_config(s, device, epochs=bench.psnr_epochs, seed=seed)
        values.append(train(data, config, model=_build(s, config)).final_psnr)
    print(f"  {s.name:<36} " + " ".join(f"{v:6.2f}" for v in values) + " dB", flush=True)
    return values


# --------------------------------------------------------------------------- FLOPs and peak


def count_flops(device: torch.device) -> dict:
    """FLOPs per 32x32 image of a forward pass and of a training step (forward + backward), as
    FlopCounterMode counts them: a multiply-add is 2; convolutions and matmuls only."""
    model = get_model("resunet").to(device)
    x = torch.rand(4, 3, 32, 32, device=device)
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        model(x)
    with FlopCounterMode(display=False) as step:
        F.mse_loss(model(x), x).backward()
    return {"forward_per_image": forward.get_total_flops() / len(x),
            "train_per_image": step.get_total_flops() / len(x),
            "method": "torch.utils.flop_counter.FlopCounterMode on a batch of 4 32x32 images"}


def matmul_peak(device: torch.device, precision: str, bench: Bench) -> float:
    """GFLOP/s of the fastest of bench.matmul_reps square matmuls in `precision`."""
    n = CUDA_MATMUL_N if device.type == "cuda" else bench.matmul_n
    a, b = (torch.randn(n, n, device=device, dtype=DTYPES[precision]) for _ in range(2))
    a @ b
    best = math.inf
    for _ in range(bench.matmul_reps):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def measure_peaks(device: torch.device, bench: Bench) -> dict:
    precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    if device.type != "cuda":
        peaks = {p: matmul_peak(device, p, bench) for p in precisions}
        return {**peaks, "auto": peaks[resolve_precision("auto", device)]}
    # fp32 convolutions run in TF32 where cuDNN allows it (PyTorch's default): time matmuls alike.
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    try:
        peaks = {p: matmul_peak(device, p, bench) for p in precisions}
        return {**peaks, "auto": peaks[resolve_precision("auto", device)]}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


# --------------------------------------------------------------------------- inference


@torch.inference_mode()
def time_forward(model: nn.Module, x: torch.Tensor, precision: str, reps: int, device: torch.device) -> float:
    """Images/s of the bare forward pass of an eval-mode model on the float batch `x`."""
    with torch.autocast(device.type, dtype=DTYPES[precision], enabled=precision != "fp32"):
        model(x)  # warm-up
        _sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            model(x)
        _sync(device)
    return reps * len(x) / (time.perf_counter() - start)


def time_predict(model: nn.Module, images: torch.Tensor, reps: int, precision: str = "fp32") -> float:
    """Images/s of models.predict: uint8 in, float 0-1 out on the CPU (channels_last inside)."""
    predict(model, images, batch_size=len(images), precision=precision)  # warm-up at the timed batch size
    start = time.perf_counter()
    for _ in range(reps):
        predict(model, images, batch_size=len(images), precision=precision)
    return reps * len(images) / (time.perf_counter() - start)


def measure_inference(model: nn.Module, data: DenoisingData, bench: Bench, device: torch.device) -> list[dict]:
    """Rows for 32x32 inference: models.predict, then bare channels_last forwards per precision."""
    images = _repeat(data, bench.infer_batch).train_input
    rows = [{"name": f"models.predict {p}", "precision": p,
             "images_per_s": time_predict(model, images, bench.infer_reps, p)} for p in ("fp32", "auto")]
    model.to(memory_format=torch.channels_last)
    x = images.to(device).float().div_(255.0).contiguous(memory_format=torch.channels_last)
    for precision in ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else []):
        rows.append({"name": f"forward {precision} channels_last", "precision": precision,
                     "images_per_s": time_forward(model, x, precision, bench.infer_reps, device)})
    for row in rows:
        print(f"  {row['name']:<36} {row['images_per_s']:8.1f} images/s", flush=True)
    return rows


def time_tiled(model: nn.Module, bench: Bench) -> dict:
    """Megapixels/s of denoising one large uint8 (H, W, 3) image through the tiled path."""
    side = bench.big_image
    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    denoise_array(model, image[:bench.tile, :bench.tile], tile=bench.tile)  # warm-up
    start = time.perf_counter()
    denoise_array(model, image, tile=bench.tile)
    seconds = time.perf_counter() - start
    print(f"  tiled {side}x{side}, tile {bench.tile}: {side * side / 1e6 / seconds:.2f} megapixels/s", flush=True)
    return {"image_shape": [side, side, 3], "tile": bench.tile, "seconds": seconds,
            "megapixels_per_s": side * side / 1e6 / seconds}


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int:
    """A memory field of /proc/self/status (Linux), in KiB: VmRSS now, VmHWM its peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _rss_probe(config: dict, n: int, threads: int) -> int:
    """Run in a fresh process: growth of resident memory (bytes) from just before one train()
    on n random pairs to its peak during it."""
    torch.set_num_threads(threads)
    pairs = torch.randint(0, 256, (3, n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    data = DenoisingData(pairs[0], pairs[1], pairs[2, :8], pairs[2, :8])
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _status_kib("VmRSS")
    train(data, TrainConfig.from_dict(config))
    return (_status_kib("VmHWM") - before) * 1024


def measure_memory(data: DenoisingData, bench: Bench, device: torch.device) -> dict:
    """Peak memory of training in the engine's default setting."""
    config = _train_config(DEFAULT, device, epochs=1)
    n = bench.memory_steps * DEFAULT.batch
    layout_of(DEFAULT, device)  # the layout measured (and cached) here, not inside the probed run
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        train(_repeat(data, n), config)
        peak = torch.cuda.max_memory_allocated(device) - base
        method = ("torch.cuda.max_memory_allocated() during train() minus what was allocated before "
                  "(includes the training images moved to the GPU)")
    elif Path("/proc/self/clear_refs").exists():
        # A fresh process, so that memory freed by earlier work cannot be reused unseen. Not
        # getrusage's ru_maxrss: a spawned child inherits its parent's peak through fork + exec.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            peak = pool.submit(_rss_probe, config.to_dict(), n, torch.get_num_threads()).result()
        method = ("peak RSS during train() minus RSS just before, in a fresh process (Linux /proc/self/status "
                  "VmHWM after resetting it through /proc/self/clear_refs): model, Adam state, activations, "
                  "allocator and oneDNN caches, library code paged in on first use; the training images "
                  "were allocated before")
    else:
        peak, method = None, "not measured: the CPU probe needs Linux's /proc/self"
    if peak is not None:
        print(f"  {DEFAULT.name}: peak {peak / 2**20:.1f} MiB", flush=True)
    return {"setting": DEFAULT.name, "steps": bench.memory_steps, "peak_bytes": peak,
            "peak_mib": None if peak is None else peak / 2**20, "method": method}


# --------------------------------------------------------------------------- the run


def training_row(s: Setting, speed: float | str, reference: float, psnrs: dict[Setting, list[float]],
                 flops: dict, peaks: dict, layout: str) -> dict:
    row = {"name": s.name, "kind": "reference" if s.reference else "engine", "batch": s.batch,
           "precision": s.precision, "layout": layout if s.channels_last != "auto" else f"auto: {layout}",
           "compile": s.compile, "default": s == DEFAULT}
    if isinstance(speed, str):
        return {**row, "images_per_s": None, "error": speed}
    gflops = speed * flops["train_per_image"] / 1e9
    psnr = psnrs.get(s)
    delta, ci95 = vs_fp32(s, psnrs) or (None, None)
    return {**row, "images_per_s": speed, "speedup_vs_reference": speed / reference, "gflops_per_s": gflops,
            "fraction_of_peak": gflops / peaks[s.precision], "psnr": None if psnr is None else float(np.mean(psnr)),
            "psnr_delta_db": delta, "psnr_delta_ci95": ci95}


def inference_row(row: dict, baseline: float, flops: dict, peaks: dict) -> dict:
    gflops = row["images_per_s"] * flops["forward_per_image"] / 1e9
    return {**row, "speedup_vs_predict": row["images_per_s"] / baseline, "gflops_per_s": gflops,
            "fraction_of_peak": gflops / peaks[row["precision"]]}


def vs_fp32(s: Setting, psnrs: dict[Setting, list[float]]) -> tuple[float, float] | None:
    """Mean and 95% CI half-width of `s`'s PSNR minus fp32's at the same batch, seed by seed
    (the half-width NaN for one seed: no CI); None for fp32 itself or where either was not trained."""
    fp32 = psnrs.get(Setting(s.batch, "fp32"))
    if s.precision == "fp32" or s not in psnrs or fp32 is None:
        return None
    return mean_ci(np.subtract(psnrs[s], fp32))


def quality(psnrs: dict[Setting, list[float]], data: DenoisingData, bench: Bench) -> dict:
    """Each lower precision against fp32 at the same batch size, so after the same number of
    steps, seed by seed: the mean difference and its 95% CI. A single short run's PSNR moves by
    about 0.1 dB with the seed alone, more than the 0.05 dB this check is asked to resolve."""
    comparisons = []
    for s, values in psnrs.items():
        if (compared := vs_fp32(s, psnrs)) is not None:
            comparisons.append({"batch": s.batch, "precision": s.precision, "psnr": values,
                                "fp32_psnr": psnrs[Setting(s.batch, "fp32")], "delta_db": compared[0],
                                "delta_ci95": compared[1]})
    return {
        "method": f"validation PSNR (dB, mean per image) on {bench.psnr_val} natural32 crops with "
                  f"{data.meta['noise']} noise {data.meta['noise_params']}, after {bench.psnr_epochs} epoch(s) "
                  f"on {bench.psnr_pairs} pairs, for seeds {list(bench.psnr_seeds)} (the same seeds in every "
                  "setting). Larger batches take fewer steps per epoch, so precisions are compared at equal "
                  "batch size only: delta_db is the mean over seeds of a setting's PSNR minus fp32's at the "
                  "same batch and seed (both channels_last), with the half-width of its 95% t-interval; fp32 "
                  "is measured at batch 8 and at the fastest lower-precision batch; 'auto' is not trained "
                  "apart from the precision it resolves to.",
        "comparisons": comparisons,
    }


def machine_kind(device: torch.device) -> str:
    """The part of a results file's name that tells kinds of machine apart: 'cuda', or for a CPU
    its speed class, e.g. 'cpu-avx2', 'cpu-avx512-bf16' (config.cpu_kind); a CPU whose oneDNN is
    limited by ONEDNN_MAX_CPU_ISA is named for the class it stands in for, plus '-limited'."""
    if device.type != "cpu":
        return device.type
    return f"cpu-{cpu_kind()}" + ("-limited" if cpu_info().get("isa_limit") else "")


def run(config_name: str, device: str = "auto", out: str | Path | None = None) -> dict:
    """Measure everything, write the JSON results file, print markdown tables; returns the results."""
    bench, device = CONFIGS[config_name], resolve_device(device)
    out = Path(out) if out else RESULTS_DIR / f"throughput-{machine_kind(device)}-{config_name}.json"
    warnings.simplefilter("ignore", SlowPrecisionWarning)  # emulated precisions are measured on purpose
    data = load_dataset("natural32", noise="gaussian", n_train=bench.psnr_pairs, n_val=bench.psnr_val, seed=0)
    print(f"throughput benchmark, config {config_name!r}, {describe_device(device)}", flush=True)
    flops, peaks = count_flops(device), measure_peaks(device, bench)
    memory = measure_memory(data, bench, device)

    print("training images/s", flush=True)
    runs = time_settings(settings_for(device, bench.max_batch), data, bench, device)
    speeds = {s: _median(v) for s, v in runs.items()}
    # Compare precisions at the fastest batch too: add fp32 at that batch if it is not there.
    fastest = max((s for s, v in speeds.items() if isinstance(v, float) and s.precision != "fp32"),
                  key=speeds.get, default=None)
    twin = fastest and replace(fastest, precision="fp32", compile=None)
    if twin and twin not in speeds:
        runs |= time_settings([twin], data, bench, device)
        speeds[twin] = _median(runs[twin])

    print(f"validation PSNR after {bench.psnr_epochs} epoch(s) on {bench.psnr_pairs} pairs", flush=True)
    # NCHW and compiled settings do the same arithmetic as their channels_last twins: not re-trained.
    trained = {}
    psnrs = {}
    for s, twin in quality_settings(list(speeds), device, {DEFAULT.batch, fastest and fastest.batch}).items():
        if twin not in trained:
            trained[twin] = measure_psnr(twin, data, bench, device)
        psnrs[s] = trained[twin]

    print("inference", flush=True)
    torch.manual_seed(0)
    model = get_model("resunet").to(device).eval()
    inference = measure_inference(model, data, bench, device)
    tiled = time_tiled(model, bench)

    rows = [{**training_row(s, v, speeds[REFERENCE], psnrs, flops, peaks, layout_of(s, device)),
             "images_per_s_runs": runs[s]} for s, v in speeds.items()]
    results = {
        "provenance": provenance(benchmark="throughput", config=config_name, device=describe_device(device),
                                 torch_threads=torch.get_num_threads(), cpu=cpu_info()),
        "config": {"name": config_name, **asdict(bench)},
        "flops": flops,
        "peak": {"gflops_per_s": peaks, "method": "fastest of repeated square matmuls of side "
                 f"{CUDA_MATMUL_N if device.type == 'cuda' else bench.matmul_n}, in each precision"},
        "settings": rows,
        "quality": quality(psnrs, data, bench),
        "inference": {"image_size": [32, 32], "batch": bench.infer_batch,
                      "rows": [inference_row(r, inference[0]["images_per_s"], flops, peaks) for r in inference]},
        "tiled_denoise": tiled,
        "memory": memory,
        "notes": [
            "images_per_s of training excludes validation; the engine's includes its dihedral augmentation.",
            f"images_per_s is the median of {bench.rounds} timed runs per setting, taken round-robin over "
            "the settings so that a slow spell of the machine hits all of them (the fp32 twin of the fastest "
            "setting, when added, is timed after them); images_per_s_runs lists them.",
            "the reference calls loss.item() every step, as the usual running-loss code does.",
            f"a precision the device only emulates is timed on {EMULATED_SHARE:.0%} of the images and steps, "
            "and its PSNR is not measured (hours of training).",
            "layout 'auto: X': the engine's default measured both layouts once on this machine "
            "(n2n_utils.layout) and trains in X.",
        ],
    }
    write_json(out, results)
    print(report(results))
    print(f"wrote {out}")
    return results


# --------------------------------------------------------------------------- the printout

TRAINING_COLUMNS = {  # title: (key, format)
    "setting": ("name", "{}"), "layout": ("layout", "{}"), "images/s": ("images_per_s", "{:.0f}"),
    "speedup": ("speedup_vs_reference", "{:.2f}x"), "GFLOP/s": ("gflops_per_s", "{:.0f}"),
    "of peak": ("fraction_of_peak", "{:.0%}"), "PSNR (dB)": ("psnr", "{:.2f}"),
    "vs fp32 (dB)": ("psnr_delta_db", "{:+.2f}"), "95% CI": ("psnr_delta_ci95", "±{:.2f}"),
}
INFERENCE_COLUMNS = {
    "setting": ("name", "{}"), "images/s": ("images_per_s", "{:.0f}"),
    "speedup": ("speedup_vs_predict", "{:.2f}x"), "GFLOP/s": ("gflops_per_s", "{:.0f}"),
    "of peak": ("fraction_of_peak", "{:.0%}"),
}


def markdown_table(rows: list[dict], columns: dict[str, tuple[str, str]]) -> str:
    """Rows as a markdown table: blank where a row has no value, NO_CI where it is NaN (a 95% CI
    of one seed, which cannot be given; "±nan" or "±0.00" would mislead)."""
    def cell(value, fmt: str) -> str:
        if value is None:
            return ""
        return NO_CI if isinstance(value, float) and math.isnan(value) else fmt.format(value)

    cells = [{title: cell(row.get(key), fmt) for title, (key, fmt) in columns.items()} for row in rows]
    return pd.DataFrame(cells).to_markdown(index=False)


def report(results: dict) -> str:
    p, flops, peaks = results["provenance"], results["flops"], results["peak"]["gflops_per_s"]
    tiled, memory = results["tiled_denoise"], results["memory"]
    tiled_line = (f"{tiled['megapixels_per_s']:.2f} megapixels/s ({tiled['image_shape'][0]} px square, "
                  f"tile {tiled['tile']})")
    return "\n".join([
        f"\n### Training: {p['device']}, torch {p['torch']}, config {p['config']}, commit {p['git_commit']}\n",
        f"CPU: {describe_cpu(p.get('cpu'))}\n",
        markdown_table(results["settings"], TRAINING_COLUMNS),
        f"\nPSNR after {results['config']['psnr_epochs']} epoch(s) on {results['config']['psnr_pairs']} pairs, "
        f"mean over seeds {results['config']['psnr_seeds']}; 'vs fp32' compares with fp32 at the same batch "
        "and seed.",
        f"\n### Inference: 32x32, batch {results['inference']['batch']}\n",
        markdown_table(results["inference"]["rows"], INFERENCE_COLUMNS),
        f"\nFLOPs per image: training step {flops['train_per_image'] / 1e9:.3f} G, forward "
        f"{flops['forward_per_image'] / 1e9:.3f} G. Matmul peak: "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()) + ".",
        f"Tiled denoising: {tiled_line}.",
        f"Peak training memory, {memory['setting']}: "
        + ("-" if memory["peak_mib"] is None else f"{memory['peak_mib']:.1f} MiB") + f" ({memory['method']}).",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="full", choices=list(CONFIGS),
                        help="tiny: every code path in seconds (the test); full: stable timings (default)")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default: benchmarks/results/throughput-<machine kind>-<config>.json, "
                             "e.g. throughput-cpu-avx2-full.json)")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1 ...")
    args = parser.parse_args(argv)
    run(args.config, args.device, args.out)


if __name__ == "__main__":
    main()
