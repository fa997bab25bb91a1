"""Many networks at once against one at a time, and the GPU training rows, side by side in one run.

    python -m benchmarks.many_networks --config cpu            # a 6 x 3 learning-rate sweep, both ways
    python -m benchmarks.many_networks --config gpu --device cuda   # the same, bigger, plus the GPU rows
    python -m benchmarks.many_networks --config tiny --out /tmp/t.json   # every code path, in seconds

Sweep row: the 6 learning rates x 3 seeds of a sweep, trained by n2n_utils.many.train_many
together ("together") and one after another ("one at a time"), on the same data in the same
run; wall time of each, the speedup, and the largest PSNR difference between the two routes.

Engine rows (on CUDA, or with --engine-rows): training images/s of n2n_utils.training.train
with AMP bf16 at batch 8, 64 and 512, channels_last against NCHW at batch 8, and torch.compile
("reduce-overhead" captures CUDA graphs) at batch 8 and 512; each row also gives the seconds an
epoch of 50,000 pairs would take (the target at the report's batch 8: under 10 s).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from benchmarks.throughput import CONFIGS as THROUGHPUT_CONFIGS
from benchmarks.throughput import RESULTS_DIR, Setting, measure_speed
from n2n_utils.config import cpu_info, describe_device, resolve_device
from n2n_utils.data import load_dataset
from n2n_utils.files import provenance, write_json
from n2n_utils.many import train_many
from n2n_utils.training import TrainConfig

EPOCH_PAIRS = 50_000          # the report's training set
TARGET_EPOCH_SECONDS = 10.0   # issue 14: an epoch of 50,000 pairs at batch 8 in under 10 s on one GPU


@dataclass(frozen=True)
class Sweep:
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    n_train: int
    n_val: int
    epochs: int
    batch: int = 8
    timed_images: int = 1600   # engine rows: images per timed run (throughput.Bench's meaning)
    max_batch: int = 512       # engine rows with larger batches are left out
    warmup: bool = True        # train two networks first, untimed (allocator, kernel choice)


CONFIGS = {
    "tiny": Sweep(lrs=(4e-4, 1.6e-3), seeds=(0,), n_train=8, n_val=8, epochs=1, timed_images=16,
                  max_batch=8, warmup=False),
    "cpu": Sweep(lrs=(1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3), seeds=(0, 1, 2), n_train=400, n_val=100, epochs=1,
                 max_batch=64),
    "gpu": Sweep(lrs=(1e-4, 2e-4, 4e-4, 8e-4, 1.6e-3, 3.2e-3), seeds=(0, 1, 2), n_train=2_000, n_val=500,
                 epochs=1, timed_images=20_000),
}
ENGINE_SETTINGS = [Setting(8, "bf16"), Setting(8, "bf16", channels_last=False), Setting(64, "bf16"),
                   Setting(512, "bf16"), Setting(8, "bf16", compile="reduce-overhead"),
                   Setting(512, "bf16", compile="default")]


def sweep_row(sweep: Sweep, device: torch.device, precision: str = "auto") -> dict:
    """The learning-rate sweep trained both ways in this run: wall seconds and PSNR of each."""
    data = load_dataset("natural32", noise="gaussian", n_train=sweep.n_train, n_val=sweep.n_val, seed=0)
    configs = [TrainConfig(epochs=sweep.epochs, lr=lr, batch_size=sweep.batch, seed=seed, precision=precision,
                           device=str(device), progress=False) for lr in sweep.lrs for seed in sweep.seeds]
    if sweep.warmup:
        train_many(data, configs[:2], route="together")
    row = {"networks": len(configs), "lrs": list(sweep.lrs), "seeds": list(sweep.seeds), "n_train": sweep.n_train,
           "epochs": sweep.epochs, "batch": sweep.batch}
    psnrs = {}
    for route in ("together", "one at a time"):
        start = time.perf_counter()
        results = train_many(data, configs, route=route)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        row[f"seconds {route}"] = time.perf_counter() - start
        psnrs[route] = [r.final_psnr for r in results]
        row["precision"] = results[0].info["precision"]
    row["speedup"] = row["seconds one at a time"] / row["seconds together"]
    row["max_psnr_difference_db"] = max(abs(a - b) for a, b in zip(*psnrs.values(), strict=True))
    row["psnr"] = psnrs
    return row


def engine_rows(sweep: Sweep, device: torch.device, rows: list[dict], save) -> None:
    """Append to `rows` the training images/s of the engine in each ENGINE_SETTINGS (compiled ones
    on CUDA only), calling save() after each: a run stopped at its time limit keeps what it has."""
    data = load_dataset("natural32", noise="gaussian", n_train=max(sweep.n_train, 64), n_val=8, seed=0)
    bench = replace(THROUGHPUT_CONFIGS["tiny"], warmup_steps=10 if device.type == "cuda" else 1,
                    timed_images=sweep.timed_images)
    for s in ENGINE_SETTINGS:
        if s.compile and device.type != "cuda" or s.batch > sweep.max_batch:
            continue  # compiling: minutes of C++ on a small CPU
        speed = measure_speed(s, data, bench, device)
        row = {"name": s.name, "batch": s.batch, "precision": s.precision, "channels_last": s.channels_last,
               "compile": s.compile}
        if isinstance(speed, str):
            rows.append({**row, "error": speed})
        else:
            epoch = EPOCH_PAIRS / speed
            rows.append({**row, "images_per_s": speed, "epoch_50k_seconds": epoch,
                         "meets_target": epoch < TARGET_EPOCH_SECONDS if s.batch == 8 else None})
            print(f"  {s.name}: an epoch of 50k pairs in {epoch:.1f} s", flush=True)
        save()


def run(config: str, device: str = "auto", out: str | Path | None = None, engine: bool | None = None) -> dict:
    sweep, device = CONFIGS[config], resolve_device(device)
    out = Path(out) if out else RESULTS_DIR / f"many-networks-{device.type}-{config}.json"
    print(f"many networks benchmark, config {config!r}, {describe_device(device)}", flush=True)
    row = sweep_row(sweep, device)
    print(f"  {row['networks']} networks: together {row['seconds together']:.1f} s, one at a time "
          f"{row['seconds one at a time']:.1f} s ({row['speedup']:.2f}x), PSNR within "
          f"{row['max_psnr_difference_db']:.3f} dB", flush=True)
    engine = device.type == "cuda" if engine is None else engine
    results = {
        "provenance": provenance(benchmark="many_networks", config=config, device=describe_device(device),
                                 cpu=cpu_info(), gpu=torch.cuda.get_device_name(device) if device.type == "cuda"
                                 else None),
        "config": {"name": config, **sweep.__dict__},
        "sweep": row,
        "engine": [],
        "notes": ["seconds include validation after each network's epoch, as a sweep does.",
                  f"epoch_50k_seconds = {EPOCH_PAIRS} / images_per_s; the target at batch 8 is under "
                  f"{TARGET_EPOCH_SECONDS:g} s."],
    }
    write_json(out, results)
    if engine:
        engine_rows(sweep, device, results["engine"], lambda: write_json(out, results))
    print(f"wrote {out}")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many_networks", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cpu", choices=list(CONFIGS))
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1 ...")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default: benchmarks/results/many-networks-<device type>-<config>.json)")
    parser.add_argument("--engine-rows", action=argparse.BooleanOptionalAction, default=None,
                        help="time the engine's GPU rows too (default: on CUDA only)")
    args = parser.parse_args(argv)
    run(args.config, args.device, args.out, args.engine_rows)


if __name__ == "__main__":
    main()
