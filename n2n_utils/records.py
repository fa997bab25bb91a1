"""Reading the study's results files (results/PROFILE/NAME.json and .csv, pipeline.json), for
the report, the pipeline and the notebooks alike: a file that is there but cannot be read, is
damaged, or lacks a key its reader needs raises ResultsFileError, one line naming the file and
what to rerun, never a traceback from json or pandas.
"""

from __future__ import annotations

import json
from pathlib import Path


class ResultsFileError(ValueError):
    """A results file that is there but cannot be read. The message is one line naming it."""


def read_record(path: Path, writer: str = "the notebook that writes it") -> dict:
    """A results JSON file as a dict whose missing keys raise ResultsFileError (see _Record); a
    file that cannot be read, is damaged or holds no JSON object raises it too. `writer` is what
    to rerun, named in those messages."""
    record = parse_file(path, lambda p: json.loads(p.read_text(), object_hook=lambda items: _Record(items, p, writer)),
                        "JSON", writer)
    if not isinstance(record, dict):
        raise ResultsFileError(f"{path}: not a results record (a JSON {type(record).__name__}, not an object)")
    return record


class _Record(dict):
    """A results file's JSON object (and each object inside it): a key it lacks raises
    ResultsFileError naming the file, the mark of a record written by another version of the
    study, where a KeyError would show a traceback. `.get` still answers None."""

    def __init__(self, items: dict, path: Path, writer: str):
        super().__init__(items)
        self.path, self.writer = path, writer

    def __missing__(self, key: str):
        raise ResultsFileError(f"{self.path}: no {key!r}, which this version of the report reads (written by "
                               f"another version of the study?); rerun {self.writer}")


def parse_file(path: Path, parse, kind: str, writer: str = "the notebook that writes it"):
    """`parse(path)`, or a ResultsFileError naming the file: one that cannot be read (a folder
    under its name, no permission) or is damaged (not `kind`: cut JSON, an empty CSV, not UTF-8),
    saying to rerun `writer`."""
    try:
        return parse(path)
    except OSError as err:
        raise ResultsFileError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, pandas' EmptyDataError and ParserError
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ResultsFileError(f"{path}: damaged, not {kind} ({first_line}); rerun {writer}") \
            from None
