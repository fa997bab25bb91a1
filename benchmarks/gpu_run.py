"""The whole GPU study in one go, inside a time budget: the stages of benchmarks/gpu_run.sh.

    python -m benchmarks.gpu_run OUT_DIR [--minutes 8] [--device cuda|cpu|auto] [--started EPOCH_S]

Stages, in order, each appended to ONE archive, OUT_DIR/gpu-run.tar, as soon as it ends (so a
failure later still returns the earlier stages), with the log appended after every stage:
1. benchmark: benchmarks.many_networks (the 6 x 3 sweep both ways; on CUDA the engine rows),
   about a minute;
2. profile: `python -m n2n_utils.pipeline --profile full --device D --minutes M --out DIR`,
   which measures its throughput first and sizes its epochs to M (recorded in pipeline.json);
   the archive gets results/, figures/ and, when a notebook fails, the executed notebooks;
3. retrain: the shipped weights' recipe (their TrainConfig, data and noise) at 5x their images
   seen, or as many epochs as the time left holds at the training speed measured first, through
   `n2n train ... --export`; the archive gets the new weights, their card and the plan.

The whole run keeps inside --minutes (default 8; a hard wall of 10): each stage gets a share of
what is left and is stopped at its end. On the CPU (--device cpu) it is a dry run of every stage
at CI size: the smoke profile with one notebook, and a retraining on 16 pairs; there no stage
is stopped before 5 minutes, so that each runs to its end whatever the budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HARD_WALL_MINUTES = 10.0
RETRAIN_FACTOR = 5           # images seen, against the shipped weights'
ROOT = Path(__file__).resolve().parent.parent
# the profile stage's share of the time left after the benchmark; the retraining gets the rest
PROFILE_SHARE = 0.7
DRY_RUN_NOTEBOOKS = ("00_data_exploration.ipynb",)
DRY_RUN_PAIRS = 16   # a dry run's retraining: two steps at batch 8, scored on DRY_RUN_VAL crops
DRY_RUN_VAL = 8


class Run:
    """Deadlines, the log and the archive of one gpu_run."""

    def __init__(self, out_dir: Path, minutes: float, started: float, device: str):
        self.out, self.device, self.started = out_dir, device, started
        self.deadline = started + minutes * 60
        self.work = out_dir / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.archive = out_dir / "gpu-run.tar"
        self.log_path = out_dir / "gpu-run.log"
        self.stages: list[dict] = []
        # a dry run exercises every stage whatever its budget: no stage is stopped before this
        self.floor_seconds = 300.0 if device == "cpu" else 0.0

    def left(self) -> float:
        return self.deadline - time.time()

    def log(self, line: str) -> None:
        stamped = f"[{time.strftime('%H:%M:%S')} +{time.time() - self.started:5.0f}s] {line}"
        print(stamped, flush=True)
        with open(self.log_path, "a") as f:
            f.write(stamped + "\n")

    def command(self, name: str, argv: list[str], seconds: float) -> int:
        """Run argv for at most `seconds` (its process group is stopped then); its output goes to
        the log. Returns the exit status (124 when stopped)."""
        seconds = max(seconds, self.floor_seconds, 1.0)
        self.log(f"{name}: {' '.join(argv)} (at most {seconds:.0f} s)")
        with open(self.log_path, "a") as log:
            path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
            proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "PYTHONPATH": path})
            try:
                return proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                self.log(f"{name}: stopped at its time limit")
                return 124

    def finish_stage(self, name: str, status: int, started: float, paths: list[Path], **extra) -> None:
        """Record the stage in run.json and append it, the log and run.json to the archive."""
        self.stages.append({"stage": name, "status": "ok" if status == 0 else f"failed ({status})",
                            "seconds": round(time.time() - started, 1), **extra})
        self.log(f"{name}: {self.stages[-1]['status']} in {self.stages[-1]['seconds']} s")
        record = self.work / "run.json"
        record.write_text(json.dumps({"device": self.device, "stages": self.stages}, indent=1))
        with tarfile.open(self.archive, "a") as tar:
            for path in paths:
                if path.exists():
                    tar.add(path, arcname=f"{name}/{path.relative_to(self.work / name)}"
                            if path.is_relative_to(self.work / name) else f"{name}/{path.name}")
            tar.add(record, arcname="run.json")
            tar.add(self.log_path, arcname="gpu-run.log")


def stage_benchmark(run: Run, dry: bool) -> None:
    start, folder = time.time(), run.work / "benchmark"
    out = folder / f"many-networks-{'cpu-tiny' if dry else 'cuda-gpu'}.json"
    status = run.command("benchmark", [sys.executable, "-m", "benchmarks.many_networks",
                                       "--config", "tiny" if dry else "gpu", "--device", run.device,
                                       "--out", str(out)], min(120.0, 0.25 * run.left()))
    run.finish_stage("benchmark", status, start, [out])


def stage_profile(run: Run, dry: bool, share: float) -> None:
    start, folder = time.time(), run.work / "profile"
    seconds = share * run.left()
    profile = "smoke" if dry else "full"
    argv = [sys.executable, "-m", "n2n_utils.pipeline", "--profile", profile, "--device", run.device,
            "--minutes", f"{max(0.1, 0.9 * seconds / 60):.2f}", "--out", str(folder)]
    if dry:
        argv += ["--notebooks", *DRY_RUN_NOTEBOOKS]
    status = run.command("profile", argv, seconds)
    paths = [folder / "results", folder / "figures"]
    if status != 0:  # the executed notebooks hold the failing cell's traceback
        paths.append(folder / "runs" / profile / "notebooks")
    run.finish_stage("profile", status, start, paths)


def retrain_plan(seconds: float, device: str, dry: bool) -> dict:
    """The shipped weights' recipe, with the epochs that fit `seconds` at the training speed
    measured now (at most RETRAIN_FACTOR x their images seen)."""
    import torch

    from n2n_utils.data import load_dataset
    from n2n_utils.training import TrainConfig, train
    from n2n_utils.weights import DEFAULT_WEIGHTS, read_weights

    shipped = read_weights(DEFAULT_WEIGHTS)
    card = shipped["card"]
    config = TrainConfig.from_dict({**shipped["config"], "device": device, "progress": False})
    n_train = DRY_RUN_PAIRS if dry else card["n_train"]
    wanted = RETRAIN_FACTOR * card["n_train"] * card["epochs"]  # images seen
    probe_pairs = config.batch_size * (2 if dry else 200)
    probe = load_dataset(card["data"], noise=card["noise"], n_train=probe_pairs, n_val=8, seed=card["data_seed"],
                         **card["noise_params"])
    probe_config = TrainConfig.from_dict({**config.to_dict(), "epochs": 1, "eval_every": 1})
    if not dry:
        train(probe, probe_config)  # warm-up
    images_per_s = float(train(probe, probe_config).history["images_per_s"].iloc[0])
    # validation, loading the data and export take time too: plan on 80% of what is left
    affordable = max(1, math.floor(0.8 * seconds * images_per_s / n_train))
    epochs = 1 if dry else min(affordable, math.ceil(wanted / n_train))
    return {"weights": DEFAULT_WEIGHTS, "config": {**config.to_dict(), "epochs": epochs}, "n_train": n_train,
            "n_val": card["n_val"] if not dry else DRY_RUN_VAL, "data": card["data"], "noise": card["noise"],
            "data_seed": card["data_seed"], "images_per_s": images_per_s, "images_seen": epochs * n_train,
            "shipped_images_seen": card["n_train"] * card["epochs"], "wanted_images_seen": wanted,
            "reaches_factor": epochs * n_train >= wanted, "seconds_available": seconds,
            "device": str(torch.device(device) if device != "auto" else "auto")}


def stage_retrain(run: Run, dry: bool) -> None:
    start, folder = time.time(), run.work / "retrain"
    folder.mkdir(parents=True, exist_ok=True)
    # a checkpoint left by an earlier run into the same OUT_DIR was planned for another budget:
    # resuming it with other epochs is refused (cosine schedule), so this run starts afresh
    (folder / "retrain.pt").unlink(missing_ok=True)
    plan_path = folder / "plan.json"
    status = run.command("retrain plan", [sys.executable, "-m", "benchmarks.gpu_run", "--plan-retrain",
                                          str(plan_path), "--seconds", f"{run.left() - 30:.0f}",
                                          "--device", run.device] + (["--dry"] if dry else []),
                         min(120.0, 0.3 * run.left()))
    if status == 0:
        plan = json.loads(plan_path.read_text())
        c = plan["config"]
        argv = [sys.executable, "-m", "n2n_utils", "train", "--checkpoint", str(folder / "retrain.pt"),
                "--dataset", plan["data"], "--noise", plan["noise"], "--n-train", str(plan["n_train"]),
                "--n-val", str(plan["n_val"]), "--epochs", str(c["epochs"]), "--lr", str(c["lr"]),
                "--batch-size", str(c["batch_size"]), "--loss", c["loss"], "--target", c["target"],
                "--augment", *(c["augment"] or ["none"]), "--lr-schedule", c["lr_schedule"],
                "--precision", c["precision"], "--seed", str(c["seed"]), "--device", run.device,
                "--export", f"{plan['weights']}-x{RETRAIN_FACTOR}", "--weights-dir", str(folder / "weights"),
                "--overwrite",  # the run's own folder: a rerun into the same OUT_DIR replaces its weights
                "--profile", f"{'dry-run' if dry else 'gpu'}-{plan['n_train']}pairs-{c['epochs']}ep-b{c['batch_size']}"]
        status = run.command("retrain", argv, run.left() - 5)
    run.finish_stage("retrain", status, start, [plan_path, folder / "weights"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_run", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, nargs="?")
    parser.add_argument("--minutes", type=float, default=8.0, help=f"budget (default 8; at most {HARD_WALL_MINUTES:g})")
    parser.add_argument("--device", default="cuda", help="cuda (default), cpu (a dry run at CI size), auto")
    parser.add_argument("--started", type=float, default=None, help="when the budget began (epoch seconds; "
                        "gpu_run.sh passes its own start, so that installing wheels counts)")
    # internal: the retraining's plan, measured in a process of its own
    parser.add_argument("--plan-retrain", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--dry", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plan_retrain:
        args.plan_retrain.write_text(json.dumps(retrain_plan(args.seconds, args.device, args.dry), indent=1))
        return 0
    if args.out_dir is None:
        parser.error("OUT_DIR is required")
    if not 0 < args.minutes <= HARD_WALL_MINUTES:
        parser.error(f"--minutes {args.minutes:g}: must be more than 0 and at most {HARD_WALL_MINUTES:g} "
                     "(the hard wall)")
    dry = args.device == "cpu"
    run = Run(args.out_dir, args.minutes, args.started or time.time(), args.device)
    run.archive.unlink(missing_ok=True)
    run.log(f"gpu_run: device {args.device}{' (dry run)' if dry else ''}, {args.minutes:g} min, out {args.out_dir}")
    stage_benchmark(run, dry)
    stage_profile(run, dry, PROFILE_SHARE)
    stage_retrain(run, dry)
    failed = [s["stage"] for s in run.stages if s["status"] != "ok"]
    run.log(f"gpu_run: done in {time.time() - run.started:.0f} s; archive {run.archive}"
            + (f"; failed: {', '.join(failed)}" if failed else ""))
    with tarfile.open(run.archive, "a") as tar:
        tar.add(run.log_path, arcname="gpu-run.log")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
