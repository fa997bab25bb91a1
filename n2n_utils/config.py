"""Where things live, and which device runs them. Paths live here and nowhere else.

Every directory can be moved with an environment variable, so a test or a CI run can write
into a temporary folder without touching the repository's committed results.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("N2N_CACHE_DIR", ROOT / "data" / "cache"))  # generated datasets
RUNS_DIR = Path(os.environ.get("N2N_RUNS_DIR", ROOT / "runs"))  # checkpoints, executed notebooks
RESULTS_DIR = Path(os.environ.get("N2N_RESULTS_DIR", ROOT / "results"))  # CSV/JSON, committed
FIGURES_DIR = Path(os.environ.get("N2N_FIGURES_DIR", ROOT / "figures"))  # PNG/PDF, committed
NOTEBOOKS_DIR = ROOT / "notebooks"
REPORT_DIR = ROOT / "report"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # shipped checkpoints


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
