"""Render report/report.md from results/ — every number and table in the report comes from here.

    python -m n2n_utils.report            # write report/report.md
    python -m n2n_utils.report --check    # exit 1 if the committed report differs from results/

The prose around the numbers is fixed; the numbers, tables and the sentences that depend on
them (which setting won, whether a target was met) are computed from the results files.

This module puts the report together and writes it; the parts, in the report's order:
results (reading a profile's results files), words (how a record's provenance, seeds, data
and tables are said), paired (notebook 05's numbers, each from one source, made once for
sections 7 and 11), ee559 (abstract, sections 1-6), clean_and_classical (7), extensions (8
and 9), speed (10, and the README's speed block) and discussion (11, and Reproducing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import config
from ..files import write_atomic
from ..profiles import PROFILES
from ..records import ResultsFileError
from .clean_and_classical import section_comparisons
from .discussion import section_discussion, section_reproduce
from .ee559 import (
    REPORT_PSNR_DB,
    section_abstract,
    section_data,
    section_model,
    section_predictions,
    section_sweeps,
    section_table2,
    section_training,
)
from .extensions import section_blind, section_generalisation
from .results import Results
from .speed import README_MARKERS, render_readme, section_speed

__all__ = ["README_MARKERS", "README_PATH", "REPORT_PATH", "REPORT_PSNR_DB", "Results", "ResultsFileError",
           "main", "render", "render_readme", "section_abstract", "section_blind", "section_comparisons",
           "section_data", "section_discussion", "section_generalisation", "section_model",
           "section_predictions", "section_reproduce", "section_speed", "section_sweeps", "section_table2",
           "section_training"]

REPORT_PATH = config.REPORT_DIR / "report.md"
README_PATH = config.ROOT / "README.md"


def render(profiles: tuple[str, ...] = ("quick", "full"), results_root: Path = config.RESULTS_DIR,
           figures_root: Path = config.FIGURES_DIR) -> str:
    """The report's markdown from the results of `profiles`: Table II has a row for each of them
    that was run, and every other section is of the largest of those (with none of them run, of
    the largest smaller profile that was, such as a reproduction's smoke)."""
    results = [Results(p, results_root, figures_root) for p in profiles]
    # none of those run: a smaller profile's reproduction (smoke, whose report the pipeline
    # offers to render) reports its own numbers rather than none
    smaller = [Results(p, results_root, figures_root) for p in PROFILES if p not in profiles]
    results = [r for r in results if r.exists] or [r for r in smaller if r.exists][-1:] or results[:1]
    largest = results[-1]
    parts = ["# Noise2Noise with the EE-559 ResUNet: a reproduction\n\n"
             "*Rendered by `python -m n2n_utils.report` from `results/`; do not edit by hand.*",
             section_abstract(largest), section_data(largest), section_model(largest), section_training(largest),
             section_sweeps(largest), section_predictions(largest), section_table2(results),
             section_comparisons(largest), section_generalisation(largest), section_blind(largest),
             section_speed(), section_discussion(largest), section_reproduce()]
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write REPORT_PATH (and README_PATH's speed block), or with --check say which is stale.
    Returns the exit status: 1 for a stale rendering or a results file that cannot be read."""
    parser = argparse.ArgumentParser(description="Render report/report.md (and README's speed table) "
                                     "from results/.")
    parser.add_argument("--check", action="store_true", help="fail if a committed rendering is stale")
    args = parser.parse_args(argv)
    if not Path(config.RESULTS_DIR).is_dir():  # a mistyped N2N_OUTPUT_ROOT: not a report of nothing
        print(f"report: error: {config.RESULTS_DIR}: folder not found: nothing to render (is N2N_OUTPUT_ROOT "
              "right?)", file=sys.stderr)
        return 1
    try:
        outputs = {REPORT_PATH: render()}
    except ResultsFileError as err:
        print(f"report: error: {err}", file=sys.stderr)
        return 1
    # the README is the repository's: the report of another output root (a reproduction) leaves it alone
    if Path(config.OUTPUT_ROOT).resolve() == config.ROOT.resolve():
        outputs[README_PATH] = render_readme(README_PATH.read_text())
    if args.check:
        stale = [p for p, text in outputs.items() if (p.read_text() if p.exists() else "") != text]
        for path in stale:
            print(f"{path} is stale: run `make report`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        write_atomic(path, lambda tmp, text=text: tmp.write_text(text))
        print(f"wrote {path}")
    return 0
