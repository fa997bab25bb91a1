"""Shipped weights: export_weights writes what load_weights reads, and the shipped default
is a working denoiser whose card says how it was made."""

from __future__ import annotations

import pytest
import torch

from n2n_utils import weights
from n2n_utils.config import WEIGHTS_DIR
from n2n_utils.data import DenoisingData
from n2n_utils.files import git_commit
from n2n_utils.models import ResUNet
from n2n_utils.training import TrainConfig, train
from n2n_utils.weights import (
    DEFAULT_WEIGHTS,
    SUFFIX,
    export_weights,
    init_record,
    list_weights,
    load_weights,
    read_weights,
)

CARD_FIELDS = {"profile", "data", "noise", "noise_params", "epochs", "device", "val_psnr",
               "val_psnr_noisy", "git_commit", "created", "history"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    """A real training checkpoint from one step on 16 random 32x32 pairs."""
    g = torch.Generator().manual_seed(0)
    images = lambda n: torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    data = DenoisingData(images(16), images(16), images(4), images(4),
                         meta={"name": "random", "noise": "gaussian", "noise_params": {"sigma": 0.1},
                               "n_train": 16, "n_val": 4, "seed": 0})
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    train(data, TrainConfig(epochs=1, batch_size=16, progress=False, device="cpu"), checkpoint=path)
    return str(path)


def test_export_then_load_gives_the_trained_network(checkpoint, tmp_path):
    path = export_weights(checkpoint, "tiny", profile="test", weights_dir=tmp_path,
                          device="cpu (test)", val_psnr_noisy=10.0, notes="made by a test")
    assert path == tmp_path / f"tiny{SUFFIX}"
    blob = torch.load(path, weights_only=True)
    assert set(blob) == {"state_dict", "config", "card"}
    assert CARD_FIELDS <= set(blob["card"])
    assert blob["card"]["profile"] == "test" and blob["card"]["device"] == "cpu (test)"
    assert blob["card"]["epochs"] == 1 and blob["card"]["data"] == "random"
    card_md = path.with_suffix(".md").read_text()
    assert "# tiny" in card_md and "test" in card_md and "made by a test" in card_md

    shipped = load_weights(path, device="cpu")
    reference = load_weights(checkpoint, "cpu")  # a training checkpoint loads directly
    assert not shipped.training
    x = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.equal(shipped(x), reference(x))
    assert list_weights(tmp_path) == ["tiny"]


def test_the_card_of_weights_kept_outside_the_shipped_folder_loads_them_by_path(checkpoint, tmp_path):
    # was: load_weights("tiny") and --weights tiny, which find shipped weights only ("no weights 'tiny'")
    path = export_weights(checkpoint, "tiny", profile="test", weights_dir=tmp_path / 'my "own" \\ weights')
    card_md = path.with_suffix(".md").read_text()
    assert f"--weights {path}`" in card_md  # a quote or backslash in the folder's name is escaped in the snippet
    snippet = card_md.split("```python\n", 1)[1].split("```", 1)[0].split("image =")[0]
    scope: dict = {}
    exec(snippet, scope)
    assert isinstance(scope["model"], torch.nn.Module)


def test_a_training_checkpoint_loads_directly(checkpoint):
    blob = read_weights(checkpoint)
    assert blob["card"]["profile"] == "unexported"
    assert isinstance(load_weights(checkpoint, "cpu"), ResUNet)


def test_unknown_name_and_non_weights_file_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="shipped"):
        load_weights("no-such-weights", "cpu")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a torch file")
    with pytest.raises(ValueError, match="junk.pt: not a torch file") as err:
        load_weights(junk, "cpu")
    assert str(err.value).count("junk.pt") == 1  # named once, not wrapped twice
    torch.save({"something": torch.zeros(1)}, junk)
    with pytest.raises(ValueError, match="only a network's tensors"):
        load_weights(junk, "cpu")
    torch.save({"something": 1}, junk)
    with pytest.raises(ValueError, match="expected keys"):
        load_weights(junk, "cpu")


def test_the_card_names_the_commit_and_device_that_trained_the_checkpoint(checkpoint, tmp_path):
    # was: the commit at export time (or at the start of a run from --init) and "not recorded"
    blob = torch.load(checkpoint, weights_only=True)
    assert blob["git_commit"] == git_commit() and blob["device"].startswith("cpu")
    older = tmp_path / "older.pt"
    torch.save({**blob, "git_commit": "0123abcd4567", "device": "cuda (some GPU)"}, older)
    card = read_weights(export_weights(older, "tiny", profile="test", weights_dir=tmp_path))["card"]
    assert (card["git_commit"], card["device"]) == ("0123abcd4567", "cuda (some GPU)")
    assert (init_record(older)["git_commit"], init_record(older)["device"]) == ("0123abcd4567", "cuda (some GPU)")
    # what the caller says still wins
    card = read_weights(export_weights(older, "tiny", profile="test", weights_dir=tmp_path, overwrite=True,
                                       git_commit="fedcba", device="cpu (said)"))["card"]
    assert (card["git_commit"], card["device"]) == ("fedcba", "cpu (said)")


def test_a_failed_export_keeps_the_old_weights_and_card_together(checkpoint, tmp_path, monkeypatch):
    # was: the .pt was replaced first and the card rendered after, so an error there left new
    # weights beside the old card
    path = export_weights(checkpoint, "tiny", profile="first", weights_dir=tmp_path)
    before = path.read_bytes(), path.with_suffix(".md").read_text()

    def broken_card(*args, **kwargs):
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(weights, "model_card", broken_card)
    with pytest.raises(RuntimeError, match="disk full"):
        export_weights(checkpoint, "tiny", profile="second", weights_dir=tmp_path, overwrite=True)
    assert (path.read_bytes(), path.with_suffix(".md").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.md", "tiny.pt"]  # no temporary left


def test_export_refuses_what_is_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="not a training checkpoint"):
        export_weights(bad, "x", profile="test", weights_dir=tmp_path)
    assert not (tmp_path / f"x{SUFFIX}").exists()


def test_shipped_default_is_listed_documented_and_safe_to_load():
    assert DEFAULT_WEIGHTS in list_weights()
    path = WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}{SUFFIX}"
    blob = torch.load(path, weights_only=True)  # tensors and plain values only
    card = blob["card"]
    assert CARD_FIELDS <= set(card)
    assert card["data"] == "natural32" and card["noise"] == "gaussian"
    assert card["noise_params"]["sigma"] == pytest.approx(25 / 255)
    assert card["val_psnr"] > card["val_psnr_noisy"] + 3  # a working denoiser, by its own record
    assert path.with_suffix(".md").is_file()
    assert path.stat().st_size < 10 * 2**20  # one small file
    model = load_weights(device="cpu")
    assert isinstance(model, ResUNet) and not model.training


def test_load_weights_says_the_ranges_that_predict_and_the_bare_network_take():
    """load_weights said 'It maps float images in 0-1 to float images in 0-1 (see
    inference.predict)', which led a user to give predict 0-1 floats: predict reads 0-255
    (uint8, or floats holding 0-255) and returns 0-1; the bare network takes 0-1."""
    from n2n_utils.inference import predict

    model = load_weights(device="cpu")
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        bare = model(x.float() / 255).clamp(0, 1)
    assert torch.allclose(predict(model, x), bare, atol=1e-5)
    assert torch.allclose(predict(model, x.float()), bare, atol=1e-5)  # floats holding 0-255
    assert not torch.allclose(predict(model, x.float() / 255), bare, atol=1e-2)  # 0-1 floats: wrong
    doc = " ".join(load_weights.__doc__.split())
    assert "predict, whose input holds values 0-255" in doc and "multiplied by 255 first" in doc
    assert "maps float images in 0-1 to float images in 0-1" not in doc


def test_loading_weights_and_the_cli_do_not_import_the_training_engine():
    """`n2n denoise` loads weights and runs inference: neither needs training.py (nor data)."""
    import subprocess
    import sys

    code = ("import sys; from n2n_utils.__main__ import build_parser; build_parser(); "
            "from n2n_utils import load_weights, predict; load_weights(device='cpu'); "
            "print(sorted(m for m in sys.modules if m.startswith('n2n_utils')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "n2n_utils.inference" in loaded and "n2n_utils.weights" in loaded
    assert "n2n_utils.training" not in loaded and "n2n_utils.data" not in loaded


def test_shipped_model_card_is_rendered_and_its_snippet_runs(tmp_path, monkeypatch):
    """The .md beside the shipped weights is model_card's rendering of their card, and the code
    it tells a user to paste runs as written."""
    from PIL import Image

    from n2n_utils.weights import model_card

    for name in list_weights():  # every shipped card (write_card renders them again after a change)
        blob = read_weights(name)
        assert (WEIGHTS_DIR / f"{name}.md").read_text() == model_card(name, blob["card"], blob["config"]), name
    text = (WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    Image.new("RGB", (40, 36), (120, 80, 40)).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(snippet, scope)
    assert scope["denoised"].shape == (36, 40, 3) and scope["denoised"].dtype == scope["image"].dtype


def test_cards_say_a_sigma_in_grey_levels_of_255_beside_its_0_1_value(checkpoint, tmp_path):
    """A user thinks of noise in 1/255 (--sigma 25): the card says so, with the value the code
    holds beside it (was: 'gaussian noise (sigma=0.09804, in 0-1 units)'); other parameters as
    the noise takes them."""
    shipped = (WEIGHTS_DIR / f"{DEFAULT_WEIGHTS}.md").read_text()
    assert "gaussian noise: sigma 25/255 (0.098 in 0-1 units). " in shipped
    assert "| noise_params | sigma 25/255 (0.098 in 0-1 units) |" in shipped and "0.09804" not in shipped
    blind = (WEIGHTS_DIR / "resunet-natural32-gaussian-blind.md").read_text()
    assert "gaussian_blind noise: max_sigma 50/255 (0.196 in 0-1 units). " in blind
    blob = torch.load(checkpoint, weights_only=True)
    mine = tmp_path / "poisson.pt"
    torch.save({**blob, "data": {**blob["data"], "noise": "poisson", "noise_params": {"lam": 30.0}},
                "init": {"noise": "gaussian", "noise_params": {"sigma": 15 / 255}}}, mine)
    text = export_weights(mine, "mine", profile="test", weights_dir=tmp_path).with_suffix(".md").read_text()
    assert "poisson noise: lam 30. " in text and "| noise_params | lam 30 |" in text
    assert "noise_params=sigma 15/255 (0.0588 in 0-1 units)" in text  # the weights it went on from


def test_write_card_renders_a_card_again_from_its_weights_file_and_leaves_the_weights(checkpoint, tmp_path):
    path = export_weights(checkpoint, "tiny", profile="test", weights_dir=tmp_path)
    card, weights_bytes = path.with_suffix(".md").read_text(), path.read_bytes()
    path.with_suffix(".md").write_text("an old card: sigma=0.09804, in 0-1 units")
    assert weights.write_card(path) == path.with_suffix(".md")
    assert path.with_suffix(".md").read_text() == card and path.read_bytes() == weights_bytes


def test_the_card_of_weights_trained_on_a_folder_names_its_training_and_validation_files(checkpoint, tmp_path):
    # was: `train_photos | -` for a folder of one's own photos (its data name them train_files), and
    # no card said which photos were held out for the validation PSNR it reports
    blob = torch.load(checkpoint, weights_only=True)
    folder = {**blob["data"], "name": "images", "train_files": ["a.jpg", "b.png"], "val_files": ["c.tif"]}
    mine = tmp_path / "checkpoint-of-mine.pt"
    torch.save({**blob, "data": folder}, mine)
    path = export_weights(mine, "mine", profile="test", weights_dir=tmp_path)
    card = read_weights(path)["card"]
    assert (card["train_photos"], card["val_photos"]) == (["a.jpg", "b.png"], ["c.tif"])
    text = path.with_suffix(".md").read_text()
    assert "| train_photos | ['a.jpg', 'b.png'] |" in text and "| val_photos | ['c.tif'] |" in text
    natural = {**blob["data"], "train_photos": ["astronaut"], "val_photos": ["chelsea"]}
    torch.save({**blob, "data": natural}, mine)
    card = read_weights(export_weights(mine, "mine", profile="test", weights_dir=tmp_path, overwrite=True))["card"]
    assert (card["train_photos"], card["val_photos"]) == (["astronaut"], ["chelsea"])


def test_a_card_leaves_out_what_it_does_not_know_and_never_prints_a_dash_for_a_number(checkpoint, tmp_path):
    """Weights trained on the course's files (no noise parameters, no seed, no photo names),
    exported by `n2n export-weights` without --val-psnr-noisy (was: 'noisy input: - dB' and
    rows '| noise_params | - |', '| val_psnr_noisy | - |', '| init | - |')."""
    from n2n_utils.__main__ import main
    from n2n_utils.data import load_course_folder
    from tests.conftest import course_folder

    course = load_course_folder(course_folder(tmp_path / "course"))
    blob = torch.load(checkpoint, weights_only=True)
    mine = tmp_path / "course.pt"
    torch.save({**blob, "data": course.meta,
                "init": {"data": "course", "noise": course.meta["noise"], "noise_params": {}, "data_seed": None}},
               mine)
    assert main(["export-weights", str(mine), "--profile", "test", "--name", "c", "--weights-dir", str(tmp_path)]) == 0
    text = (tmp_path / "c.md").read_text()
    assert "| - |" not in text and "- dB" not in text and "=-" not in text and "(-" not in text
    assert "on `course`, course (fixed, unknown law) noise. Profile" in text  # no parameters to list
    assert "(noisy input: not recorded)" in text and "| val_psnr_noisy |" not in text
    for unknown in ("noise_params", "data_seed", "train_photos", "val_photos"):
        assert f"| {unknown} |" not in text
    assert "| n_train | 6 |" in text and "Trained on `course` (6 pairs)" in text
    assert "| init | data=course, noise=course (fixed, unknown law) |" in text  # its unknowns left out
    assert "| init | none |" in text  # the config's: trained from scratch
    blob = read_weights(tmp_path / "c.pt")
    unscored = weights.model_card("c", {**blob["card"], "val_psnr": None}, blob["config"])
    assert "\nValidation PSNR: not recorded\n" in unscored and "\n| val_psnr |" not in unscored


def test_list_weights_leaves_out_what_a_card_does_not_know(checkpoint, tmp_path, capsys):
    """`n2n list-weights` of weights exported without --val-psnr-noisy, and of a card that knows
    neither its scores nor its noise: the unknown fields are left out, as model cards leave them
    (was: 'noisy=-', 'val_psnr=-', 'profile=None', 'noise=unknown')."""
    from n2n_utils.__main__ import main

    assert main(["export-weights", checkpoint, "--profile", "test", "--name", "a", "--weights-dir", str(tmp_path)]) == 0
    blob = read_weights(tmp_path / "a.pt")
    bare = {k: v for k, v in blob["card"].items() if k not in ("profile", "noise", "noise_params")}
    torch.save({**blob, "card": {**bare, "val_psnr": None, "val_psnr_noisy": float("nan")}}, tmp_path / "b.pt")
    capsys.readouterr()
    assert main(["list-weights", "--weights-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    psnr = blob["card"]["val_psnr"]
    assert lines == [f"a  profile=test  epochs=1  val_psnr={psnr:.2f} dB  noise=gaussian(sigma 25.5/255)",
                     "b  epochs=1"]  # a NaN score is no score (export-weights once took --val-psnr-noisy nan)
    # a folder without weights says so on stderr (was: nothing at all)
    (tmp_path / "empty").mkdir()
    assert main(["list-weights", "--weights-dir", str(tmp_path / "empty")]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == f"n2n: {tmp_path / 'empty'}: no weights files in this folder\n"
