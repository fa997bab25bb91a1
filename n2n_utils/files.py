"""Files, safely: atomic writes, torch files read without running code, and the provenance
every results file carries.

A results file that is half-written after a crash is worse than none, so every writer here
writes to a temporary file in the same folder, flushes it to the disk and renames it into place
(an atomic step on POSIX and on Windows for files on one volume).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import platform
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from .config import ROOT


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_file(path: str | Path) -> None:
    """Flush a closed file's bytes to the disk (os.fsync), so that a power cut after a rename
    cannot leave the new name on an empty or partial file."""
    fd = os.open(path, os.O_RDWR)  # writable: Windows' fsync (_commit) refuses a read-only handle
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: str | Path) -> None:
    """Flush a folder's entries (a rename in it) to the disk, where the OS allows it: Windows
    cannot open a folder, and some file systems refuse to fsync one; both are skipped silently."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success its bytes are flushed to the disk and it
    replaces `path` (then the folder is flushed too), on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; results should read like any other file
    try:
        yield Path(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp_path)` and move the result to `path` only if it succeeded."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def save_torch(obj: Any, path: str | Path) -> Path:
    """torch.save, atomically."""
    return write_atomic(path, lambda tmp: torch.save(obj, tmp))


class UnreadableFileError(ValueError):
    """A file cannot be read as what it should be. The message is one line naming the file."""


def check_writable(path: str | Path) -> None:
    """Refuse, before any work, an output `path` whose folder cannot take a new file: create and
    remove a scratch file in the nearest existing folder (os.access says yes to root even on a
    read-only mount, and names no reason). Raises an OSError whose message is one line naming `path`."""
    path = Path(path)
    folder = next(p for p in (path.parent.absolute(), *path.parent.absolute().parents) if p.exists())
    if not folder.is_dir():
        raise NotADirectoryError(f"{path}: cannot write: {folder} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OSError(f"{path}: cannot write in {folder}: {err.strerror or err}") from None


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, every failure one UnreadableFileError naming the file."""
    path = Path(path)
    _check_is_file(path)
    try:
        return path.read_bytes()
    except OSError as err:
        raise UnreadableFileError(f"{path}: cannot read: {err.strerror or err}") from None


def _check_is_file(path: Path) -> None:
    if not path.exists():
        raise UnreadableFileError(f"{path}: file not found")
    if path.is_dir():
        raise UnreadableFileError(f"{path}: is a folder, not a file")


def load_torch(path: str | Path, map_location: str | torch.device = "cpu", raw: bytes | None = None) -> Any:
    """torch.load with weights_only=True (tensors and plain values only: a pickle never runs
    code), every failure one UnreadableFileError naming the file. torch's own message is not
    passed on: it advises weights_only=False, which would switch that protection off.
    `raw`: the file's bytes when the caller has read them already (`read_bytes`, to digest them
    too): they are loaded, and `path` only names the file in errors, which is not read again."""
    path = Path(path)
    if raw is None:
        _check_is_file(path)
    try:
        with warnings.catch_warnings():  # torch warns on a plain pickle's protocol: not for the user
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path if raw is None else io.BytesIO(raw), map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" in str(err):  # a class or function: unpickling it could run code
            name = str(err).split("GLOBAL ", 1)[1].split()[0]
            raise UnreadableFileError(f"{path}: refused: it holds a Python object ({name}), not only "
                                      f"tensors and plain values; nothing in it was run") from None
        raise UnreadableFileError(f"{path}: not a torch file (torch.save), or damaged") from None
    except OSError as err:
        raise UnreadableFileError(f"{path}: cannot read: {err.strerror or err}") from None
    except Exception:  # zip, pickle and storage errors take many forms, none worth showing
        raise UnreadableFileError(f"{path}: not a torch file (torch.save), or damaged") from None


def json_text(data: dict) -> str:
    """A results file's JSON text: pretty-printed, with a trailing newline, and strict: a value
    that is not a finite number (NaN for a CI of one run, a diverged run's PSNR) is null, which
    every JSON reader takes (Python writes NaN, which jq and JavaScript refuse)."""
    return json.dumps(_finite_or_null(data), indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"


def _finite_or_null(value: Any) -> Any:
    """`value` with every float that is NaN or infinite, at any depth, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


def write_json(path: str | Path, data: dict) -> Path:
    """Write a JSON file atomically (json_text)."""
    text = json_text(data)
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_csv(path: str | Path, frame, **made_by: Any) -> Path:
    """Write a pandas DataFrame as CSV atomically, without the index, and beside it
    `<name>.provenance.json`: how it was made (commit, time, versions, plus `made_by`). Both are
    complete on disk before either replaces its namesake: a failed write leaves the old pair."""
    path = Path(path)
    text = json_text(provenance(**made_by, file=path.name, rows=len(frame), columns=list(frame.columns)))
    with atomic_path(path) as tmp_csv, atomic_path(path.with_suffix(".provenance.json")) as tmp_record:
        frame.to_csv(tmp_csv, index=False)
        tmp_record.write_text(text)
    return path


def files_digest(files: list[Path], names: bool = True, read: dict[Path, bytes] | None = None) -> str:
    """A digest (12 hex characters) of the files' names and bytes: what a run on them trained on.
    A dataset read from files (a folder of photos, the course's .pkl) keeps it in its meta, hence
    in run keys and checkpoints, so that a file replaced under its name is other data to a run.
    names=False: of the bytes alone (one file's, to find copies under other names).
    `read`: the bytes of files the caller has read already (`read_bytes`), digested as they are,
    so that a file is read once; the digest is the same as from the disk.
    A file that cannot be read (gone, no permission) raises UnreadableFileError naming it."""
    digest = hashlib.sha1()
    for path in files:
        name = path.name if names else ""
        raw = (read or {}).get(path)
        try:
            size = path.stat().st_size if raw is None else len(raw)
            digest.update(f"{name}\0{size}\0".encode())  # where each file ends
            for chunk in _chunks(path) if raw is None else (raw,):
                digest.update(chunk)
        except OSError as err:
            raise UnreadableFileError(f"{path}: cannot read: {err.strerror or err}") from None
    return digest.hexdigest()[:12]


def _chunks(path: Path, size: int = 1 << 20):
    """A file's bytes in chunks of `size`: a photo may be large (hashlib.file_digest is 3.11+)."""
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(size), b"")


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
