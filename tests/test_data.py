import json
import os
import pickle
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from n2n_utils.config import ROOT
from n2n_utils.data import (
    GENERATION,
    PHOTOS,
    SCALES,
    SPLITS,
    DataFileError,
    generation_fingerprint,
    load_course_folder,
    load_dataset,
    load_pair_file,
    make_natural32,
    photo_folds,
)
from n2n_utils.runs import TrainConfig, checkpoint_name, data_identity
from n2n_utils.sweeps import config_key
from n2n_utils.training import train
from tests.conftest import course_folder


def test_split_is_by_photo_and_complete():
    assert not set(SPLITS["train"]) & set(SPLITS["val"])
    assert set(SPLITS["train"]) | set(SPLITS["val"]) == set(PHOTOS)
    # the held-out photos of the generalisation study stay out of training
    assert {"chelsea", "motorcycle", "flower"} <= set(SPLITS["val"])


def test_natural32_layout_and_metadata(small_data):
    d = small_data
    assert d.train_input.shape == d.train_target.shape == d.train_clean.shape == (400, 3, 32, 32)
    assert d.val_input.shape == d.val_clean.shape == (100, 3, 32, 32)
    for t in (d.train_input, d.train_target, d.train_clean, d.val_input, d.val_clean):
        assert t.dtype == torch.uint8
    assert len(d.val_groups) == 100 and set(d.val_groups) <= set(SPLITS["val"])
    assert d.meta["name"] == "natural32" and d.meta["noise"] == "gaussian"
    # two independent noise draws of the same crops
    assert not torch.equal(d.train_input, d.train_target)
    diff = d.train_input.float() - d.train_target.float()
    assert 25 * 2**0.5 * 0.8 < diff.std() < 25 * 2**0.5 * 1.05


def test_natural32_crops_hold_structure(small_data):
    # multi-scale crops hold edges, not just flat texture: most crops vary a lot
    std = small_data.train_clean.float().flatten(1).std(1)
    assert (std > 10).float().mean() > 0.5


def test_natural32_deterministic_from_seed():
    a = make_natural32(n_train=20, n_val=10, seed=3)
    b = make_natural32(n_train=20, n_val=10, seed=3)
    c = make_natural32(n_train=20, n_val=10, seed=4)
    assert torch.equal(a.train_input, b.train_input) and torch.equal(a.val_clean, b.val_clean)
    assert not torch.equal(a.train_clean, c.train_clean)


def test_natural32_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setattr("n2n_utils.config.CACHE_DIR", tmp_path)
    a = load_dataset("natural32", n_train=16, n_val=8, seed=1)
    assert len(list(tmp_path.glob("*.pt"))) == 1
    b = load_dataset("natural32", n_train=16, n_val=8, seed=1)
    assert torch.equal(a.train_target, b.train_target) and a.meta == b.meta
    assert a.val_groups == b.val_groups


def test_course_folder_loads(tmp_path):
    folder = course_folder(tmp_path / "course")
    d = load_dataset(folder)
    assert d.train_input.shape == (6, 3, 32, 32) and d.val_clean.shape == (4, 3, 32, 32)
    assert d.train_clean is None and d.meta["name"] == "course"
    assert len(load_course_folder(folder, n_train=3).train_input) == 3


_OPENED: list[str] | None = None  # the files opened while a test watches (opened_files)


def _record_open(event: str, args: tuple) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


@pytest.fixture
def opened_files():
    """The paths opened while the test runs, by any reader (open, Path.read_bytes, torch.load):
    Python's "open" audit event. A hook cannot be removed, so one is added once and records
    only while a test watches."""
    global _OPENED
    if not getattr(sys, "_n2n_test_open_hook", False):
        sys.addaudithook(_record_open)
        sys._n2n_test_open_hook = True
    _OPENED = []
    yield _OPENED
    _OPENED = None


def test_course_files_are_read_once(tmp_path, opened_files):
    """Loaded and digested from one read (was: torch.load read each .pkl, then files_digest
    read it again for the meta's digest)."""
    folder = course_folder(tmp_path / "course")
    from n2n_utils.files import files_digest

    digest = files_digest([folder / "train_data.pkl", folder / "val_data.pkl"])  # as read from the disk
    opened_files.clear()
    data = load_dataset(folder)
    pkl = sorted(Path(p).name for p in opened_files if p.endswith(".pkl"))
    assert pkl == ["train_data.pkl", "val_data.pkl"]
    assert data.meta["files_digest"] == digest  # the same digest as before: runs keep their keys
    assert data.train_input.shape == (6, 3, 32, 32) and data.val_clean.shape == (4, 3, 32, 32)


@pytest.mark.parametrize("kwargs, message", [({"n_train": -2}, "n_train=-2: a number of pairs from 0"),
                                             ({"n_val": 2.5}, "n_val=2.5: a number of images from 0")])
def test_course_folder_sizes_are_checked_by_name(tmp_path, kwargs, message):
    """As natural32's and a photo folder's (was: n_train=-2 kept all but the last 2 pairs,
    recording n_train -2; n_val=2.5 numpy's 'slice indices must be integers')."""
    with pytest.raises(ValueError, match=message):
        load_dataset(course_folder(tmp_path / "course"), **kwargs)


def test_course_folder_is_the_same_data_however_it_is_named(tmp_path, monkeypatch):
    """Relative or absolute: one meta, so one run key (was: the folder as spelled, so that a
    checkpoint trained on `--dataset course` was 'other data' to `--dataset /abs/course`)."""
    folder = course_folder(tmp_path / "course")
    monkeypatch.chdir(tmp_path)
    assert load_dataset("course").meta == load_dataset(folder).meta


def test_course_files_replaced_under_their_names_are_other_data(tmp_path):
    # was: the same meta, so a checkpoint trained on the old files resumed on the new ones
    folder = course_folder(tmp_path / "course")
    before = load_dataset(folder)
    assert load_dataset(folder).meta == before.meta  # read again: the same data
    images = torch.randint(0, 256, (6, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    torch.save((images, images), folder / "train_data.pkl")  # the same name and size, other pixels
    after = load_dataset(folder)
    assert after.meta["files_digest"] != before.meta["files_digest"]
    checkpoint = tmp_path / "run.pt"
    config = TrainConfig(epochs=1, batch_size=8, progress=False, device="cpu")
    train(before, config, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="trained on other data .*files_digest"):
        train(after, replace(config, epochs=2), checkpoint=checkpoint, resume=True)


def test_a_course_checkpoint_from_before_the_digest_names_only_the_digest(tmp_path):
    # was: "folder (checkpoint '/x/course', asked None)" as well, though the folder is the same
    folder = course_folder(tmp_path / "course")
    data = load_dataset(folder)
    before = replace(data, meta={k: v for k, v in data.meta.items() if k != "files_digest"})
    checkpoint = tmp_path / "run.pt"
    config = TrainConfig(epochs=1, batch_size=8, progress=False, device="cpu")
    train(before, config, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"other data \('course'\): files_digest \(checkpoint None, asked '\w+'\)$"):
        train(data, replace(config, epochs=2), checkpoint=checkpoint, resume=True)


@pytest.mark.parametrize(
    "payload, message",
    [
        (lambda: torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "tuple of two tensors"),
        (lambda: (torch.zeros(2, 3, 32, 32),) * 2, "dtype uint8"),
        (lambda: (torch.zeros(2, 32, 32, dtype=torch.uint8),) * 2, "4 dimensions"),
        (lambda: (torch.zeros(2, 1, 32, 32, dtype=torch.uint8),) * 2, "3 channels"),
        (lambda: (torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
                  torch.zeros(3, 3, 32, 32, dtype=torch.uint8)), "same shape"),
        (lambda: ("a", "b"), "torch.Tensor"),
    ],
)
def test_course_file_errors_name_file_and_problem(tmp_path, payload, message):
    path = tmp_path / "train_data.pkl"
    torch.save(payload(), path)
    with pytest.raises(DataFileError) as err:
        load_pair_file(path, ("noisy_imgs_1", "noisy_imgs_2"))
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        load_pair_file(tmp_path / "nope.pkl", ("a", "b"))
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"this is not a torch file")
    with pytest.raises(DataFileError, match="junk.pkl"):
        load_pair_file(junk, ("a", "b"))
    with pytest.raises(DataFileError, match="missing train_data.pkl, val_data.pkl"):
        load_dataset(tmp_path)
    with pytest.raises(DataFileError, match="neither an embedded dataset"):
        load_dataset("no_such_dataset")


class _Hostile:
    """Unpickling this would create a marker file: the loader must refuse it without running it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "train_data.pkl"
    payload = (_Hostile(marker), torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    if writer == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(DataFileError, match="train_data.pkl"):
        load_pair_file(path, ("noisy_imgs_1", "noisy_imgs_2"))
    assert not marker.exists()


def test_a_course_folders_files_loaded_from_their_bytes_keep_the_checks(tmp_path):
    """load_course_folder loads the bytes it digested: still weights_only, still one line naming the file."""
    folder = course_folder(tmp_path / "course")
    marker = tmp_path / "pwned"
    torch.save((_Hostile(marker), torch.zeros(1, 3, 32, 32, dtype=torch.uint8)), folder / "train_data.pkl")
    with pytest.raises(DataFileError, match=r"train_data.pkl: refused: it holds a Python object \(\w+.system"):
        load_dataset(folder)
    assert not marker.exists()
    (folder / "train_data.pkl").write_bytes(b"this is not a torch file")
    with pytest.raises(DataFileError, match="train_data.pkl: not a torch file"):
        load_dataset(folder)


def test_validation_set_does_not_depend_on_training_size():
    small = make_natural32(n_train=8, n_val=10, seed=5)
    large = make_natural32(n_train=40, n_val=10, seed=5)
    assert torch.equal(small.val_clean, large.val_clean) and torch.equal(small.val_input, large.val_input)
    assert small.val_groups == large.val_groups
    assert torch.equal(small.train_clean, large.train_clean[:8])  # crops are drawn one at a time


def test_photo_folds_hold_every_photo_out_once():
    for k in (2, 4, 8):
        folds = photo_folds(k)
        assert len(folds) == k and folds[0] == tuple(SPLITS["val"])  # fold 0: the default split
        held = [p for fold in folds for p in fold]
        assert sorted(held) == sorted(PHOTOS)  # disjoint and complete
    with pytest.raises(ValueError, match="folds"):
        photo_folds(1)


def test_holdout_moves_photos_out_of_training():
    d = make_natural32(n_train=60, n_val=20, seed=0, holdout=("astronaut", "coffee"))
    assert set(d.val_groups) <= {"astronaut", "coffee"} and d.meta["val_photos"] == ["astronaut", "coffee"]
    assert not set(d.train_groups) & {"astronaut", "coffee"}
    assert set(d.meta["train_photos"]) == set(PHOTOS) - {"astronaut", "coffee"}
    default = make_natural32(n_train=60, n_val=20, seed=0, holdout=tuple(SPLITS["val"]))
    assert torch.equal(default.val_clean, make_natural32(n_train=60, n_val=20, seed=0).val_clean)
    for bad in [("nosuchphoto",), (), tuple(PHOTOS)]:
        with pytest.raises(ValueError, match="holdout"):
            make_natural32(n_train=4, n_val=4, holdout=bad)
    with pytest.raises(ValueError, match="holdout"):
        load_dataset("deadleaves32", n_train=4, n_val=4, holdout=("chelsea",))


def test_holdout_has_its_own_cache_entry():
    default = load_dataset("natural32", n_train=8, n_val=8, seed=0)
    other = load_dataset("natural32", n_train=8, n_val=8, seed=0, holdout=("astronaut",))
    assert set(other.val_groups) == {"astronaut"} and not set(default.val_groups) & {"astronaut"}
    again = load_dataset("natural32", n_train=8, n_val=8, seed=0, holdout=("astronaut",))  # from the cache
    assert torch.equal(again.val_clean, other.val_clean) and again.val_groups == other.val_groups


def test_larger_crops_are_windows_of_the_same_photos_with_their_own_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setattr("n2n_utils.config.CACHE_DIR", tmp_path)
    big = load_dataset("natural32", noise="gaussian_blind", n_train=6, n_val=4, seed=2, crop=64)
    assert big.train_input.shape == big.train_clean.shape == (6, 3, 64, 64) and big.val_clean.shape == (4, 3, 64, 64)
    assert big.meta["crop"] == 64 and set(big.train_groups) <= set(big.meta["train_photos"])
    assert big.train_clean.float().std(dim=(2, 3)).mean() > 5  # photo content, not padding
    small = load_dataset("natural32", noise="gaussian_blind", n_train=6, n_val=4, seed=2)
    assert small.train_input.shape[-1] == 32 and "crop" not in small.meta  # the default keeps its meta and key
    assert len(list(tmp_path.glob("*.pt"))) == 2
    again = load_dataset("natural32", noise="gaussian_blind", n_train=6, n_val=4, seed=2, crop=64)  # cached
    assert torch.equal(again.train_target, big.train_target) and again.meta == big.meta
    for bad in (48, 16, 160, 64.0):
        with pytest.raises(ValueError, match="crop="):
            make_natural32(n_train=2, n_val=2, crop=bad)
    with pytest.raises(ValueError, match="only natural32"):
        load_dataset("deadleaves32", n_train=2, n_val=2, crop=64)
    with pytest.raises(ValueError, match="dead leaves are 32x32"):
        load_dataset("natural32", n_train=2, n_val=2, crop=64, mix_deadleaves=0.5)
    with pytest.raises(ValueError, match="dead leaves are 32x32"):  # not a shape mismatch half-way
        make_natural32(n_train=2, n_val=2, crop=64, mix_deadleaves=0.5)


# --------------------------------------------------------------------------- keys


def test_generation_fingerprint_is_the_one_in_every_cache_key():
    """Any change to how data are generated (crops, scales, noise, dead leaves, meta) changes
    the fingerprint; until crops.GENERATION is updated to it, this fails, and once it is, every
    cache key changes with it, so no older cache file brings back older data or meta."""
    assert generation_fingerprint() == GENERATION, (
        f"data are generated differently now: set n2n_utils/data/crops.py GENERATION = "
        f"{generation_fingerprint()!r} (this renames every cache file, checkpoint and sweep key)")


def test_cache_key_changes_with_the_generation(tmp_path, monkeypatch):
    monkeypatch.setattr("n2n_utils.config.CACHE_DIR", tmp_path)
    load_dataset("natural32", n_train=4, n_val=2, seed=1)
    monkeypatch.setattr("n2n_utils.data.crops.GENERATION", "another")
    load_dataset("natural32", n_train=4, n_val=2, seed=1)
    assert len(list(tmp_path.glob("natural32-*.pt"))) == 2


def test_data_generated_otherwise_is_another_run_not_resumed_or_reused(tmp_path, monkeypatch):
    """After a change to how data are made (crops.GENERATION updated), a run's checkpoint name and
    sweep key change, and a checkpoint trained on the data made before refuses to resume (was: the
    same names: a pulled update resumed old checkpoints and kept old sweep rows on other data)."""
    monkeypatch.setattr("n2n_utils.config.CACHE_DIR", tmp_path)
    config = TrainConfig(epochs=1, batch_size=4, eval_every=1)
    before = load_dataset("natural32", n_train=8, n_val=4, seed=1)
    train(before, config, checkpoint=tmp_path / "run.pt")
    monkeypatch.setattr("n2n_utils.data.crops.GENERATION", "another")
    after = load_dataset("natural32", n_train=8, n_val=4, seed=1)
    assert after.meta["generation"] == "another"
    assert checkpoint_name(config, after.meta) != checkpoint_name(config, before.meta)
    assert config_key(config, "lr", after.meta) != config_key(config, "lr", before.meta)
    with pytest.raises(ValueError, match=rf"run\.pt: cannot resume, it was trained on other data .*generation "
                                         rf"\(checkpoint '{GENERATION}', asked 'another'\)"):
        train(after, replace(config, epochs=2), checkpoint=tmp_path / "run.pt", resume=True)
    # the generation current when metas began to record it is left out: earlier runs keep their names
    assert checkpoint_name(config, {**before.meta, "generation": GENERATION}) == \
        checkpoint_name(config, {k: v for k, v in before.meta.items() if k != "generation"})


def test_scales_are_the_geometric_grid():
    assert np.allclose(SCALES, np.geomspace(1 / 2, 1 / 8, 7), rtol=1e-15, atol=0)


@pytest.mark.parametrize("sweep", ["lr_sweep", "batch_size_sweep"])
def test_committed_run_keys_are_the_ones_this_code_makes(sweep):
    """The quick profile's committed sweep rows carry the run key this code gives their
    config and their data built afresh (no cache): otherwise a rerun would redo them all, or
    worse, keep rows made from other data."""
    made = json.loads((ROOT / "results" / "quick" / f"{sweep}.json").read_text())
    rows = pd.read_csv(ROOT / "results" / "quick" / f"{sweep}.csv")
    data = load_dataset(made["data"]["name"], noise=made["data"]["noise"], n_train=made["data"]["n_train"],
                        n_val=made["data"]["n_val"], seed=made["data"]["seed"], cache=False)
    # the same data: the meta recorded then, and the generation, which metas record since (runs.data_identity)
    assert data_identity(data.meta) == data_identity(made["data"]) and data.meta["generation"] == GENERATION
    key = config_key(TrainConfig.from_dict(made["base_config"]), made["param"], data.meta)
    assert set(rows["config_key"]) == {key}
