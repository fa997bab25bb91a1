"""How the report says what a results record holds: its tables, where it came from, over how
many seeds, and on which data with which noise. Each is said here once, so that every section
says it alike; a new data source, for one, is worded in `data_words` and nowhere else.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from ..noise import params_words
from ..weights import images_seen


def not_run(heading: str, what: str = "not run yet") -> str:
    """A section whose notebook (or benchmark) has not written its results: heading and note."""
    return f"{heading}\n\n*({what})*"


def markdown_table(frame: pd.DataFrame, floatfmt: str | tuple[str, ...] = ".2f") -> str:
    """`frame` as a markdown table without its index. `floatfmt` formats the numbers: one format
    for every column, or one per column. A missing value is a blank cell, not "nan"."""
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_markdown(index=False, floatfmt=floatfmt, missingval="")


def images_seen_words(card: dict) -> str:
    """How many training images weights saw over every run they went through (weights.images_seen
    of their card, or of a results record that keeps its fields): 'so the network saw 1,620,000
    images in all'."""
    return f"so the network saw {images_seen(card):,} images in all"


def made_by(record: dict) -> str:
    """Where a results record came from: 'profile `quick`, DEVICE, commit `abc1234`, 2026-01-31'."""
    return (f"profile `{record['profile']}`, {record.get('device', 'device not recorded')}, "
            f"commit `{record['git_commit']}`, {record['created'][:10]}")


def seeds_note(record: dict, what: str) -> str:
    """A sentence saying that `what` are means over the record's seeds, or, for one seed (records
    written before the profiles had n_seeds hold none), what its CIs are across instead."""
    seeds = record.get("seeds") or []
    if len(seeds) < 2:
        return (f" {what} from one trained network (one seed): its 95% confidence intervals are across the "
                "validation crops, and leave out the spread between training runs.")
    return (f" {what} the mean of {len(seeds)} training seeds ({', '.join(map(str, seeds))}: initialisation "
            "and data order), with a 95% confidence interval across seeds.")


# --------------------------------------------------------------------------- a run's data
# `meta` below is a dataset's meta as a results file records it (its "data"): name, noise,
# noise_params in 0-1 units, and, by source, folder or mix_deadleaves.

FOLDER_SOURCES = {"images": "photos", "course": "course's files"}  # data read from a folder: what it holds


def data_words(meta: dict, form: Literal["sentence", "cell"] = "sentence") -> str:
    """What a run's data were, noise included: the one wording of every place that names them.
    A sentence adds what the source is:
    'natural32, our embedded stand-in for the course's data, with gaussian noise (sigma 25/255)';
    a table cell names it alone: 'natural32 with gaussian noise (sigma 25/255)'."""
    sentence = form == "sentence"
    return f"{_source_words(meta, sentence)}{',' if sentence else ''} with {noise_words(meta)}"


def _source_words(meta: dict, sentence: bool) -> str:
    """The source of a run's data: a folder (of photos, or the course's files) or natural32 or a
    dataset made from it (deadleaves32, natural32+deadleaves0.5); in a sentence, what it is."""
    name = meta.get("name", "natural32")
    if name in FOLDER_SOURCES:  # a model card names no folder (its data are a name alone)
        where = f"{FOLDER_SOURCES[name]} in " + (f"`{meta['folder']}`" if meta.get("folder") else "a folder")
        return f"the {where}" if sentence else where
    if not sentence:
        return name
    share = dead_leaves_share(meta)
    if share:
        return (f"{name} ({share} of the training pairs synthetic dead leaves, validated on natural32's "
                f"held-out photos)")
    return f"{name}, our embedded stand-in for the course's data"


def held_out_words(meta: dict) -> str:
    """What a run is validated on, in a word: the course's validation 'images', or the held-out
    'photos' of natural32 or of a folder."""
    return "images" if meta.get("name") == "course" else "photos"


def noise_words(meta: dict) -> str:
    """The noise of a run's data: 'gaussian noise (sigma 25/255)', 'poisson noise (lam 30)', or
    the course's own."""
    if meta.get("name") == "course":
        return "the course's own noise (fixed, unknown law)"
    return f"{meta['noise']} noise ({params_words(meta.get('noise_params') or {})})"


def dead_leaves_share(meta: dict) -> str:
    """How much of natural32's training a run gave to dead leaves: '' for none, 'all' (the
    deadleaves32 dataset) or a percentage (natural32 with mix_deadleaves, a fraction 0-1)."""
    share = meta.get("mix_deadleaves") or 0
    return "" if not share else "all" if share == 1 else f"{share:.0%}"
