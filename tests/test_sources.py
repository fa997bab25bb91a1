"""More training content without a download: dead leaves, mixes with natural32, and a folder of
the user's own images."""

import numpy as np
import pytest
import torch
from PIL import Image

from n2n_utils import config
from n2n_utils.data import DataFileError, load_dataset, random_crops
from n2n_utils.data.deadleaves import EMPTY, make_deadleaves, render_labels, sample_radii
from n2n_utils.data.folders import load_image_folder, read_rgb8

# --------------------------------------------------------------------------- dead leaves


def test_deadleaves_deterministic_from_seed():
    a = make_deadleaves(6, seed=1, canvas=64)
    assert a.shape == (6, 3, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, make_deadleaves(6, seed=1, canvas=64))
    assert np.array_equal(a[:3], make_deadleaves(3, seed=1, canvas=64))  # a prefix, whatever n
    assert not np.array_equal(a, make_deadleaves(6, seed=2, canvas=64))
    assert a.std() > 20  # colourful, not a flat frame


def test_leaves_cover_the_frame_and_the_first_leaf_wins():
    k = 2
    labels, leaves = render_labels(np.random.default_rng(0), size=64, supersample=k)
    assert labels.shape == (128, 128) and labels.dtype == np.int32
    assert (labels != EMPTY).all()  # the sentinel background is gone everywhere
    # against brute force: a pixel shows the first leaf (lowest index) covering its centre
    rng = np.random.default_rng(1)
    x, y, r = leaves.T
    late = np.argwhere(labels > np.quantile(labels, 0.99))[:100]  # covered by a later batch
    for i, j in np.concatenate([rng.integers(0, 128, size=(300, 2)), late]):
        covers = (x - (j + 0.5) / k) ** 2 + (y - (i + 0.5) / k) ** 2 <= r ** 2
        assert labels[i, j] == np.argmax(covers)


def test_radii_follow_r_to_the_minus_3():
    r_min, r_max = 1.0, 64.0
    r = np.sort(sample_radii(200_000, np.random.default_rng(0), r_min, r_max))
    assert r.min() >= r_min and r.max() <= r_max
    # the slope of the density on log-log axes
    edges = np.geomspace(r_min, r_max / 2, 16)  # the last octave holds few samples
    counts, _ = np.histogram(r, edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    slope = np.polyfit(np.log(centres), np.log(counts / np.diff(edges)), 1)[0]
    assert slope == pytest.approx(-3, abs=0.05)
    # Kolmogorov-Smirnov against the analytic CDF of r^-3 on [r_min, r_max]
    cdf = (1 - (r_min / r) ** 2) / (1 - (r_min / r_max) ** 2)
    ks = np.max(np.abs(cdf - np.arange(1, len(r) + 1) / len(r)))
    assert ks < 1.63 / np.sqrt(len(r))  # the 1% critical value


def test_deadleaves_parameters_are_checked():
    with pytest.raises(ValueError, match="no parameter"):
        make_deadleaves(1, radius=3)
    with pytest.raises(ValueError, match="multiple of 32"):
        make_deadleaves(1, canvas=48)


# --------------------------------------------------------------------------- mixes


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One temporary cache for the module, so natural32 is built once."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setattr(config, "CACHE_DIR", path)
        yield path


SMALL = {"n_train": 40, "n_val": 8, "seed": 0}


def test_mix_replaces_the_expected_share_of_training_pairs(cache_dir):
    plain = load_dataset("natural32", **SMALL)
    mixed = load_dataset("natural32", mix_deadleaves=0.25, **SMALL)
    leaves = np.array([g == "deadleaves" for g in mixed.train_groups])
    assert leaves.sum() == 10 == mixed.meta["n_deadleaves"]
    assert mixed.meta["mix_deadleaves"] == 0.25 and mixed.meta["name"] == "natural32+deadleaves0.25"
    # the photos' pairs and the validation set are exactly those of plain natural32
    keep = torch.from_numpy(~leaves)
    for name in ("train_input", "train_target", "train_clean"):
        assert torch.equal(getattr(mixed, name)[keep], getattr(plain, name)[keep])
        assert not torch.equal(getattr(mixed, name)[~keep], getattr(plain, name)[~keep])
    assert torch.equal(mixed.val_input, plain.val_input) and mixed.val_groups == plain.val_groups
    # dead-leaves pairs are two independent noisy draws of a clean crop
    dl = torch.from_numpy(leaves)
    diff = mixed.train_input[dl].float() - mixed.train_target[dl].float()
    assert 25 * 2**0.5 * 0.8 < diff.std() < 25 * 2**0.5 * 1.05
    # the mix is cached whole, and the cache gives back the same data
    again = load_dataset("natural32", mix_deadleaves=0.25, **SMALL)
    assert torch.equal(again.train_input, mixed.train_input) and again.train_groups == mixed.train_groups
    assert again.meta == mixed.meta
    assert len(list(cache_dir.glob("deadleaves-n10-*.pt"))) == 1  # the clean leaves, for any noise


def test_deadleaves32_trains_on_leaves_and_validates_on_photos(cache_dir):
    d = load_dataset("deadleaves32", **SMALL)
    plain = load_dataset("natural32", **SMALL)
    assert d.meta["name"] == "deadleaves32" and d.meta["mix_deadleaves"] == 1.0
    assert set(d.train_groups) == {"deadleaves"} and "train_photos" not in d.meta
    assert d.train_input.shape == d.train_clean.shape == (40, 3, 32, 32)
    assert torch.equal(d.val_clean, plain.val_clean) and torch.equal(d.val_input, plain.val_input)


def test_mix_arguments_are_checked(cache_dir, tmp_path):
    with pytest.raises(ValueError, match="0-1"):
        load_dataset("natural32", mix_deadleaves=1.5, **SMALL)
    with pytest.raises(ValueError, match="dead leaves only"):
        load_dataset("deadleaves32", mix_deadleaves=0.5, **SMALL)
    for name in ("train_data.pkl", "val_data.pkl"):
        torch.save((torch.zeros(2, 3, 32, 32, dtype=torch.uint8),) * 2, tmp_path / name)
    with pytest.raises(ValueError, match="course data"):
        load_dataset(tmp_path, mix_deadleaves=0.5)


# --------------------------------------------------------------------------- a folder of images

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, size=(40, 48, 4), dtype=np.uint8)  # (H, W, RGBA)
PIXELS16 = RNG.integers(0, 65536, size=(40, 48, 3), dtype=np.uint16)
ROWS, COLS = np.meshgrid(np.arange(40), np.arange(48), indexing="ij")
SMOOTH = np.stack([ROWS * 5, COLS * 4, np.full((40, 48), 90)], axis=-1).astype(np.uint8)  # JPEG keeps it


def _write_formats(folder):
    """One small image per supported kind; returns {file name: expected uint8 (H, W, 3)}."""
    import tifffile  # a scikit-image dependency; Pillow cannot write 16-bit colour

    folder.mkdir(exist_ok=True)
    rgb, grey = PIXELS[..., :3], PIXELS[..., 0]
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(grey).save(folder / "grey.png")
    Image.fromarray(PIXELS).save(folder / "rgba.png")
    Image.fromarray(PIXELS16[..., 0]).save(folder / "grey16.png")  # mode I;16
    tifffile.imwrite(folder / "rgb16.tif", PIXELS16)
    Image.fromarray(SMOOTH).save(folder / "photo.JPG", quality=95)
    return {"rgb.png": rgb, "grey.png": np.repeat(grey[..., None], 3, axis=2), "rgba.png": rgb,
            "grey16.png": np.repeat((PIXELS16[..., :1] >> 8).astype(np.uint8), 3, axis=2),
            "rgb16.tif": (PIXELS16 >> 8).astype(np.uint8), "photo.JPG": SMOOTH}


def test_read_rgb8_formats(tmp_path):
    expected = _write_formats(tmp_path)
    for name, want in expected.items():
        got = read_rgb8(tmp_path / name)
        assert got.dtype == np.uint8 and got.shape == (40, 48, 3), name
        if name.endswith(".JPG"):  # lossy
            assert np.abs(got.astype(int) - want).mean() < 2
        else:
            assert np.array_equal(got, want), name


COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (128, 128, 128)]


@pytest.fixture
def photo_folder(tmp_path):
    """Five flat-coloured images of various sizes and formats: a crop's colour tells its file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, colour in enumerate(COLOURS):
        image = Image.new("RGB", (40 + 30 * i, 64), colour)
        image = image.convert("L") if colour[0] == colour[1] == colour[2] else image
        image.save(folder / f"im{i}.{['png', 'jpg', 'tif', 'png', 'png'][i]}")
    (folder / "notes.txt").write_text("not an image: ignored")
    return folder


def test_folder_loads_and_splits_by_file(photo_folder, cache_dir):
    cached = lambda: set(cache_dir.glob("images-*.pt"))
    before = cached()
    d = load_dataset(photo_folder, n_train=60, n_val=12, seed=0)
    assert d.train_input.shape == d.train_target.shape == d.train_clean.shape == (60, 3, 32, 32)
    assert d.val_input.shape == d.val_clean.shape == (12, 3, 32, 32)
    for t in (d.train_input, d.train_target, d.train_clean, d.val_input, d.val_clean):
        assert t.dtype == torch.uint8
    meta = d.meta
    assert meta["name"] == "images" and meta["folder"] == str(photo_folder)
    assert len(meta["val_files"]) == 1 and len(meta["train_files"]) == 4  # 20% of 5 files
    assert not set(meta["train_files"]) & set(meta["val_files"])
    assert set(meta["train_files"]) | set(meta["val_files"]) == {f"im{i}" + s for i, s in
                                                                 enumerate([".png", ".jpg", ".tif", ".png", ".png"])}
    assert set(d.train_groups) <= set(meta["train_files"]) and set(d.val_groups) == set(meta["val_files"])
    # each crop has its file's colour: no file gives crops to both sides of the split
    colour_of = {f"im{i}": np.array(c) for i, c in enumerate(COLOURS)}
    for clean, groups in ((d.train_clean, d.train_groups), (d.val_clean, d.val_groups)):
        for crop, group in zip(clean.numpy(), groups, strict=True):
            assert np.abs(crop.mean(axis=(1, 2)) - colour_of[group.split(".")[0]]).max() < 3
    assert not torch.equal(d.train_input, d.train_target)
    # deterministic from the seed, and cached
    again = load_image_folder(photo_folder, n_train=60, n_val=12, seed=0, cache=False)
    assert torch.equal(again.train_input, d.train_input) and again.meta == d.meta
    assert len(cached() - before) == 1
    third = load_dataset(photo_folder, n_train=60, n_val=12, seed=0)
    assert torch.equal(third.val_input, d.val_input) and third.train_groups == d.train_groups
    assert len(cached() - before) == 1
    # a changed file is a new dataset
    Image.new("RGB", (50, 64), COLOURS[0]).save(photo_folder / "im0.png")
    load_dataset(photo_folder, n_train=60, n_val=12, seed=0)
    assert len(cached() - before) == 2


def test_a_changed_photo_is_other_data_to_a_run(photo_folder, cache_dir):
    """A photo replaced under the same name makes a new dataset (the cache) and other data to
    every run on it: its meta, so its run key and checkpoint name, differ, and a checkpoint
    trained on the old photo is not resumed on the new one (was: same meta, silently resumed)."""
    from n2n_utils.runs import TrainConfig, checkpoint_name

    before = load_dataset(photo_folder, n_train=8, n_val=4, seed=0)
    Image.new("RGB", (40, 64), (10, 240, 10)).save(photo_folder / "im0.png")  # same name and pixel size
    after = load_dataset(photo_folder, n_train=8, n_val=4, seed=0)
    assert not torch.equal(before.train_clean, after.train_clean)
    assert after.meta != before.meta
    assert checkpoint_name(TrainConfig(), after.meta) != checkpoint_name(TrainConfig(), before.meta)
    # unchanged files: the same meta, from the cache or built afresh
    assert load_image_folder(photo_folder, n_train=8, n_val=4, seed=0, cache=False).meta == after.meta


def test_a_folder_is_the_same_data_however_it_is_named(photo_folder, cache_dir, monkeypatch):
    """Relative or absolute, from the cache or built afresh: one meta, so one run key (was: the
    folder as first spelled, kept by the cache, so a resume depended on the spelling and the cache)."""
    monkeypatch.chdir(photo_folder.parent)
    absolute = load_dataset(photo_folder, n_train=8, n_val=4, seed=0)
    assert load_dataset("photos", n_train=8, n_val=4, seed=0).meta == absolute.meta
    assert load_image_folder("./photos/", n_train=8, n_val=4, seed=0, cache=False).meta == absolute.meta


def test_photos_moved_or_copied_elsewhere_are_the_same_data_to_a_run(photo_folder, cache_dir):
    # was: the folder's absolute path was part of every run key, so moving the photos (or a
    # colleague's clone) trained every run again and refused the checkpoints
    import shutil

    from n2n_utils.runs import TrainConfig, checkpoint_name
    from n2n_utils.training import train

    here = load_dataset(photo_folder, n_train=8, n_val=4, seed=0)
    copy = load_dataset(shutil.copytree(photo_folder, photo_folder.parent / "elsewhere"), n_train=8, n_val=4, seed=0)
    assert copy.meta["folder"] != here.meta["folder"]  # the record still says where they were read
    assert checkpoint_name(TrainConfig(), copy.meta) == checkpoint_name(TrainConfig(), here.meta)
    config = TrainConfig(epochs=1, batch_size=8, progress=False, device="cpu")
    checkpoint = photo_folder.parent / "run.pt"
    train(here, config, checkpoint=checkpoint)
    resumed = train(copy, TrainConfig(epochs=2, batch_size=8, progress=False, device="cpu"),
                    checkpoint=checkpoint, resume=True)
    assert resumed.history["epoch"].tolist() == [1, 2]


def test_a_broken_link_is_named_not_skipped(photo_folder, cache_dir):
    """A link to a photo that is gone (an unmounted drive, say) is refused, naming it, rather
    than silently training on the others."""
    (photo_folder / "gone.png").symlink_to(photo_folder / "nowhere.png")
    with pytest.raises(DataFileError, match=r"gone.png: .*nowhere.png.*not found"):
        load_dataset(photo_folder, n_train=8, n_val=4, seed=0)


@pytest.mark.parametrize("kwargs, message", [({"n_train": -1}, "n_train=-1: a number of pairs from 0"),
                                             ({"n_val": 2.5}, "n_val=2.5: a number of images from 0"),
                                             ({"val_fraction": float("nan")}, "val_fraction=nan: from 0 to 1")])
def test_folder_sizes_are_checked_by_name(photo_folder, cache_dir, kwargs, message):
    """(was: numpy's 'negative dimensions are not allowed', or 'cannot convert float NaN to integer')"""
    with pytest.raises(ValueError, match=message):
        load_image_folder(photo_folder, **{"n_train": 8, "n_val": 4, **kwargs})


def test_folder_mix_and_arrays_as_photos(photo_folder, cache_dir):
    d = load_dataset(photo_folder, n_train=20, n_val=4, seed=0, mix_deadleaves=0.5)
    assert d.train_groups.count("deadleaves") == 10 == d.meta["n_deadleaves"]
    # random_crops takes images as well as PHOTOS names, with the same draws
    import skimage.data

    by_name, _ = random_crops(["astronaut"], 5, np.random.default_rng(3))
    by_array, _ = random_crops([skimage.data.astronaut()], 5, np.random.default_rng(3))
    assert np.array_equal(by_name, by_array)


def test_course_files_win_over_images(tmp_path):
    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    for name in ("train_data.pkl", "val_data.pkl"):
        torch.save((torch.zeros(2, 3, 32, 32, dtype=torch.uint8),) * 2, tmp_path / name)
    assert load_dataset(tmp_path).meta["name"] == "course"


def test_folder_errors_name_the_problem(tmp_path, cache_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFileError, match="no images"):
        load_image_folder(empty)
    with pytest.raises(DataFileError, match="nor a folder of images"):
        load_dataset(empty)

    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (40, 40)).save(one / "only.png")
    with pytest.raises(DataFileError, match="only one image.*at least 2"):
        load_dataset(one)

    bad = tmp_path / "bad"
    bad.mkdir()
    Image.new("RGB", (40, 40)).save(bad / "good.png")
    Image.new("RGB", (40, 40)).save(bad / "good2.png")
    (bad / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(DataFileError, match="broken.png: not a readable image"):
        load_dataset(bad)

    small = tmp_path / "small"
    small.mkdir()
    Image.new("RGB", (40, 40)).save(small / "big.png")
    Image.new("RGB", (20, 40)).save(small / "tiny.png")
    with pytest.raises(DataFileError, match="tiny.png: 20x40 pixels, smaller than one 32x32 crop"):
        load_dataset(small)

    # a file whose header reads but whose pixels are cut off is named when it is decoded
    cut = tmp_path / "cut.png"
    Image.fromarray(PIXELS[..., :3]).save(cut)
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(DataFileError, match="cut.png: not a readable image"):
        read_rgb8(cut)
