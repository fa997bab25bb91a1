"""Writing results safely: atomic writes, and the provenance every results file carries.

A results file that is half-written after a crash is worse than none, so every writer here
writes to a temporary file in the same folder and renames it into place (an atomic step on
POSIX and on Windows for files on one volume).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .config import ROOT


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results should read like any other file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp_path)` and move the result to `path` only if it succeeded."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def save_torch(obj: Any, path: str | Path) -> Path:
    """torch.save, atomically."""
    return write_atomic(path, lambda tmp: torch.save(obj, tmp))


def write_json(path: str | Path, data: dict) -> Path:
    """Write a JSON file atomically, pretty-printed and with a trailing newline."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_csv(path: str | Path, frame, **made_by: Any) -> Path:
    """Write a pandas DataFrame as CSV atomically, without the index, and beside it
    `<name>.provenance.json`: how it was made (commit, time, versions, plus `made_by`)."""
    path = Path(path)
    write_json(path.with_suffix(".provenance.json"),
               provenance(**made_by, file=path.name, rows=len(frame), columns=list(frame.columns)))
    return write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))


def git_commit(root: Path = ROOT) -> str:
    """The current commit of the repository, with '-dirty' when the tree has changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
            text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "n2n_utils", "notebooks",
             "benchmarks", "pyproject.toml"], cwd=root,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(**extra: Any) -> dict:
    """How a results file was made: commit, time, versions, plus whatever the caller adds
    (profile, device, seed ...)."""
    return {
        "git_commit": git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        **extra,
    }
