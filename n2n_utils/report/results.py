"""A profile's results files, as the report reads them: results/PROFILE/NAME.json and .csv, and
figures/PROFILE/STEM.png. A file not there reads as None (its section says "not run yet"); one
that is there but cannot be read raises ResultsFileError, one line naming the file.

A Results is one rendering's view of the files: each is read once, when first asked for, and
what several sections compute from them (`once`) is computed once; a file changed afterwards is
not seen, so each rendering makes its own Results.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pandas as pd

from .. import config
from ..records import parse_file, read_record

T = TypeVar("T")


class Results:
    """The results and figures of one profile (smoke, quick or full)."""

    def __init__(self, profile: str, results_root: Path = config.RESULTS_DIR,
                 figures_root: Path = config.FIGURES_DIR):
        self.profile = profile
        self.dir = Path(results_root) / profile
        self.figures = Path(figures_root) / profile
        self._known: dict[str, object] = {}  # what `once` computed, files read included

    def json(self, name: str) -> dict | None:
        """NAME.json as a dict whose missing keys raise ResultsFileError (see _Record), or None.
        Read once: every call gives the same dict, which the sections only read."""
        path = self.dir / f"{name}.json"
        return self.once(path.name, lambda _: read_record(path) if path.exists() else None)

    def csv(self, name: str) -> pd.DataFrame | None:
        """NAME.csv as a table, or None. Read once; each call gives its own copy to change."""
        path = self.dir / f"{name}.csv"
        table = self.once(path.name, lambda _: parse_file(path, pd.read_csv, "a table") if path.exists() else None)
        return None if table is None else table.copy()

    def once(self, key: str, compute: Callable[[Results], T]) -> T:
        """compute(self), computed the first time `key` is asked for and kept: what several
        sections read (a file, the paired gaps) is made once per rendering. One that raises is
        not kept."""
        if key not in self._known:
            self._known[key] = compute(self)
        return self._known[key]

    def figure(self, stem: str, caption: str) -> str:
        """STEM.png as markdown (linked relative to report/, captioned), or a note that this
        profile has not made it."""
        path = self.figures / f"{stem}.png"
        if not path.exists():
            return f"*({stem}: not produced in the {self.profile} profile yet)*"
        rel = os.path.relpath(path, config.REPORT_DIR)
        return f"![{caption}]({rel})\n\n*{caption}*"

    @property
    def exists(self) -> bool:
        """Whether this profile was run: notebook 01's train_resunet.json is there."""
        return self.json("train_resunet") is not None
