"""Where things live, and which device runs them. Paths live here and nowhere else.

Every directory can be moved with an environment variable, so a test or a CI run can write
into a temporary folder without touching the repository's committed results.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("N2N_CACHE_DIR", ROOT / "data" / "cache"))  # generated datasets
COMMITTED_RESULTS_DIR = ROOT / "results"  # the results in git, whatever N2N_OUTPUT_ROOT says
REPRODUCED_DIR = ROOT / "reproduced"  # `make reproduce` writes a fresh OUTPUT_ROOT under here
# Where a run writes runs/, results/, figures/ and report/: the repository, or another folder
# laid out the same way (a reproduction: see n2n_utils.pipeline). Read here and nowhere else.
OUTPUT_ROOT = Path(os.environ.get("N2N_OUTPUT_ROOT") or ROOT)
RUNS_DIR = Path(os.environ.get("N2N_RUNS_DIR", OUTPUT_ROOT / "runs"))  # checkpoints, executed notebooks
RESULTS_DIR = Path(os.environ.get("N2N_RESULTS_DIR", OUTPUT_ROOT / "results"))  # CSV/JSON, committed
FIGURES_DIR = Path(os.environ.get("N2N_FIGURES_DIR", OUTPUT_ROOT / "figures"))  # PNG/PDF, committed
REPORT_DIR = OUTPUT_ROOT / "report"
NOTEBOOKS_DIR = ROOT / "notebooks"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # shipped checkpoints
BENCHMARK_RESULTS_DIR = ROOT / "benchmarks" / "results"  # benchmark JSON, committed


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn "auto" into the best device present (cuda > mps > cpu); pass anything else through."""
    if isinstance(device, torch.device):
        return device
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """A human name for a device, for results files: 'cpu (2 threads)', 'cuda (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the device has native bf16 (CUDA with bf16, a CPU with
    AVX512-BF16 or AMX), else 'fp32'. Other values pass through."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        try:  # a private op: a build without it simply gets fp32
            return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
        except (AttributeError, RuntimeError):
            return "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """An autocast context for 'bf16'/'fp16' (resolve 'auto' first), or a no-op for 'fp32'."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs CUDA; use 'bf16' on the CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
