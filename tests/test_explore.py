"""The explorer's callbacks, driven from a test without a browser: ipywidgets run headless."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from n2n_utils import explore, findings
from n2n_utils.explore import UPLOAD, Explorer, Settings


@pytest.fixture
def explorer():
    return Explorer(Settings(image="crop:0", noise="gaussian", level=25))  # 32x32: BM3D runs by itself


def labels(ex: Explorer) -> list[str]:
    return [p["label"] for p in ex.panels]


def test_default_state_scores_every_method(explorer):
    assert labels(explorer) == ["noisy", "Noise2Noise", "BM3D (sigma 25.0/255)", "TV", "clean"]
    noisy, net, bm3d, tv, _ = explorer.panels
    assert all(p["psnr"] > noisy["psnr"] + 2 for p in (net, bm3d, tv))
    assert 0 < noisy["ssim"] < net["ssim"] < 1
    assert net["seconds"] > 0 and "dB" in net["caption"] and "SSIM" in net["caption"]
    assert explorer.figure() is not None and explorer.message == ""
    # shown as a PNG in an Image widget (an Output widget hung papermill's client in notebook 07)
    shown = explorer.picture.value
    assert shown[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.controls["seed"].value = 1
    assert explorer.picture.value[:8] == b"\x89PNG\r\n\x1a\n" and explorer.picture.value != shown


def test_noise_change_resets_the_level_and_refuses_bm3d(explorer):
    explorer.controls["noise"].value = "impulse"
    assert explorer.settings.noise == "impulse" and explorer.settings.level == explore.LEVELS["impulse"].default
    assert explorer.controls["level"].max == explore.LEVELS["impulse"].high
    bm3d = explorer.panels[2]
    assert bm3d["image"] is None and "does not suit impulse" in bm3d["caption"]


def test_level_and_seed_change_the_noisy_image(explorer):
    before = explorer.panels[0]["psnr"]
    explorer.controls["level"].value = 50
    assert explorer.panels[0]["psnr"] < before - 4
    first = explorer.panels[0]["image"].copy()
    explorer.controls["seed"].value = 1
    assert not np.array_equal(first, explorer.panels[0]["image"])


def test_zoom_moves_without_recomputing(explorer, monkeypatch):
    calls = []
    monkeypatch.setattr(explore, "denoise_network", lambda *a, **k: calls.append(1))
    explorer.controls["zoom"].value = 16
    explorer.controls["zoom_x"].value = 0.0
    assert calls == [] and explore.zoom_box((32, 32), explorer.settings) == (3, 0, 16, 16)
    assert explorer.panels[1]["zoom_caption"].startswith("zoom: ")


def test_large_images_wait_for_the_bm3d_button(monkeypatch):
    monkeypatch.setattr(explore, "BM3D_AUTO_PIXELS", 1_000)  # a 75x113 photo counts as large
    monkeypatch.setattr(explore, "BM3D_WHOLE_PIXELS", 2_000)  # so the button works on the zoom region
    ex = Explorer(Settings(image="chelsea", scale=0.25, zoom=16))
    assert ex.panels[2]["image"] is None and "Run BM3D" in ex.panels[2]["caption"]
    ex.bm3d_button.click()
    assert "zoom region only" in ex.panels[2]["caption"]
    top, left, h, w = explore.zoom_box(ex.panels[0]["image"].shape, ex.settings)
    outside = np.ones(ex.panels[0]["image"].shape[:2], bool)
    outside[top:top + h, left:left + w] = False
    assert np.array_equal(ex.panels[2]["image"][outside], ex.panels[0]["image"][outside])  # noisy outside
    assert not np.array_equal(ex.panels[2]["image"][~outside], ex.panels[0]["image"][~outside])
    ex.controls["zoom_x"].value = 0.9  # a new region: BM3D waits again, the slider did not run it
    assert ex.panels[2]["image"] is None


def test_upload_any_size_through_the_tiled_path(explorer):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 280), dtype=np.uint8)  # grey, larger than one 256-px tile
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    explorer.controls["scale"].value = 1.0
    explorer.upload.value = ({"name": "mine.png", "type": "image/png", "size": buffer.tell(),
                              "content": memoryview(buffer.getvalue()), "last_modified": datetime.now(timezone.utc)},)
    assert explorer.settings.image == UPLOAD
    assert explorer.panels[0]["image"].shape == (300, 280, 3)
    assert explorer.panels[1]["image"].shape == (300, 280, 3)


def test_a_bad_upload_is_a_one_line_message(explorer):
    explorer.upload.value = ({"name": "notes.png", "type": "image/png", "size": 5,
                              "content": memoryview(b"hello"), "last_modified": datetime.now(timezone.utc)},)
    assert "notes.png" in explorer.message and "\n" not in explorer.message
    assert explorer.settings.image == "crop:0"  # what was shown stays


def test_no_noise_means_no_reference(explorer):
    explorer.controls["noise"].value = "none"
    assert labels(explorer)[0] == "your image" and "clean" not in labels(explorer)
    assert explorer.panels[1]["psnr"] is None and "no reference" in explorer.panels[1]["caption"]


def test_ensemble_toggle(explorer):
    plain = explorer.panels[1]["image"].copy()
    explorer.controls["ensemble"].value = True
    assert explorer.panels[1]["label"] == "Noise2Noise + ensemble"
    assert not np.array_equal(plain, explorer.panels[1]["image"])


def test_choices_mark_held_out_photos():
    choices = dict(explore.image_choices())
    assert choices["chelsea (held out)"] == "chelsea" and choices["astronaut (trained on)"] == "astronaut"
    assert choices["your file (upload)"] == UPLOAD
    with pytest.raises(ValueError, match="no file uploaded"):
        explore.load_image(Settings(image=UPLOAD))


def test_finding_names_each_method(explorer):
    sentence = findings.explorer_finding(explorer)
    assert "Noise2Noise" in sentence and "BM3D" in sentence and "dB in" in sentence


def test_finding_of_nothing_shown_says_why():
    # was: "upload (...): ." with the upload chosen and no file yet (a value notebook 07 offers)
    waiting = Explorer(Settings(image=UPLOAD, noise="gaussian", level=25))
    sentence = findings.explorer_finding(waiting)
    assert "nothing shown (no file uploaded" in sentence and not sentence.endswith(": ."), sentence


def test_a_16_bit_file_gives_the_same_pixels_to_the_explorer_and_to_a_folder_dataset(tmp_path):
    # was: the explorer rounded v / 257, a folder dataset kept v >> 8: 200 gave 1 and 0, 65280 gave
    # 254 and 255, so that a photo trained on was not the photo shown
    import tifffile

    from n2n_utils.data.folders import read_rgb8

    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)  # each 16-bit value once
    colour = np.stack([every, every.T, every[::-1]], axis=-1)
    Image.fromarray(every).save(tmp_path / "grey16.png")  # mode I;16
    tifffile.imwrite(tmp_path / "rgb16.tif", colour, photometric="rgb")
    for path in (tmp_path / "grey16.png", tmp_path / "rgb16.tif"):
        shown = explore.load_image(Settings(image=UPLOAD, scale=1.0), explore.read_upload(path.name, path.read_bytes()))
        trained = read_rgb8(path)
        assert shown.dtype == trained.dtype == np.uint8 and shown.shape == trained.shape == (256, 256, 3)
        assert np.array_equal(shown, trained), path.name
    assert np.array_equal(trained[..., 0], (every >> 8).astype(np.uint8))  # the top 8 bits, as Pillow keeps of colour


def test_an_upload_is_shown_upright_as_a_folder_dataset_trains_on_it(tmp_path):
    # was: read_upload dropped the EXIF orientation, so a phone photo (stored sideways, orientation 6)
    # was shown and denoised sideways in the explorer, and upright as a training photo
    from n2n_utils.data.folders import read_rgb8

    stored = np.random.default_rng(0).integers(0, 256, (40, 64, 3), dtype=np.uint8)  # 64 wide, 40 high
    exif = Image.Exif()
    exif[0x0112] = 6  # display turned 90 degrees clockwise
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif)
    shown = explore.load_image(Settings(image=UPLOAD, scale=1.0), explore.read_upload(path.name, path.read_bytes()))
    assert shown.shape == (64, 40, 3) and np.array_equal(shown, read_rgb8(path))


def _upload(ex: Explorer, image: np.ndarray, name: str = "mine.png") -> None:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    ex.upload.value = ({"name": name, "type": "image/png", "size": buffer.tell(),
                        "content": memoryview(buffer.getvalue()), "last_modified": datetime.now(timezone.utc)},)


def test_a_tiny_upload_says_why_bm3d_does_not_run(explorer):
    # was: a 7x6 upload raised the bm3d package's "Image cannot be smaller than block size!" as a
    # traceback out of the widget's callback, and an 8x8 one (a 32x32 crop at scale 1/4) crashed the kernel
    explorer.controls["scale"].value = 1.0
    _upload(explorer, np.random.default_rng(0).integers(0, 256, (7, 6, 3), dtype=np.uint8))
    assert explorer.message == "" and explorer.settings.image == UPLOAD
    assert explorer.panels[1]["image"].shape == (7, 6, 3)  # the network runs at any size
    bm3d = explorer.panels[2]
    assert bm3d["image"] is None and bm3d["caption"] == "BM3D needs at least 9x9 pixels"


def test_the_network_time_leaves_out_loading_the_weights(monkeypatch):
    # was: the first Noise2Noise panel's seconds included reading the weights (about 1.7 s, loaded),
    # so the explorer showed the network slower than BM3D on a small photo. A fake clock, moved
    # only by the work itself: loading the weights or their card costs 100 s, denoising 1 s.
    now = [0.0]

    def costs(seconds: float, real):
        def call(*args, **kwargs):
            now[0] += seconds
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(explore, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    monkeypatch.setattr(explore, "load_weights", costs(100.0, explore.load_weights))
    monkeypatch.setattr(explore, "read_weights", costs(100.0, explore.read_weights))
    monkeypatch.setattr(explore, "denoise_array", costs(1.0, explore.denoise_array))
    explore._model.cache_clear()
    explore._card.cache_clear()
    try:
        ex = Explorer(Settings(image="crop:0"))
        assert now[0] >= 201.0  # the weights and their card were loaded, and the network ran, under this clock
        assert ex.panels[1]["seconds"] == 1.0
    finally:
        explore._model.cache_clear()  # the next test loads the real weights anew
        explore._card.cache_clear()


def test_the_upload_chosen_before_any_file_is_a_message_not_a_traceback():
    # was: notebook 07 run with image = "upload" (its parameters cell offers it) stopped at
    # explorer.run_bm3d() with "no file uploaded yet" as a traceback, and Run All ran nothing after it
    ex = Explorer(Settings(image=UPLOAD))
    assert ex.panels == [] and "no file uploaded" in ex.message
    ex.run_bm3d()
    assert ex.panels == [] and "no file uploaded" in ex.message


def test_a_grey_image_goes_through_the_network_as_grey():
    # three equal channels (a grey upload shown without added noise) are denoised as one grey
    # channel, fed as inference.grey_shifts chooses: shifted 2 px for the blind weights
    from n2n_utils.inference import GREY_SHIFT2, denoise_array

    rng = np.random.default_rng(0)
    grey = np.clip(np.rint(128 + rng.normal(0, 25, (64, 64, 1))), 0, 255).astype(np.uint8)
    blind = "resunet-natural32-gaussian-blind"
    out = explore.denoise_network(np.repeat(grey, 3, axis=2), blind, False, sigma=25 / 255)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    expected = denoise_array(explore._model(blind, "cpu"), grey, precision="auto", grey=GREY_SHIFT2)
    assert np.array_equal(out[..., :1], expected)
    assert out.std() < grey.std() / 3  # flat grey plus noise: most of the noise is gone


def test_scores_are_the_studys_metrics_and_scikit_images():
    # the explorer had its own PSNR; it scores with n2n_utils.metrics now, which agrees with scikit-image
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 10, clean.shape), 0, 255).astype(np.uint8)
    psnr, ssim = explore.scores(noisy, clean)
    assert psnr == pytest.approx(peak_signal_noise_ratio(clean, noisy), abs=1e-4)
    assert ssim == pytest.approx(structural_similarity(clean, noisy, channel_axis=-1), abs=1e-6)
    assert explore.scores(noisy[:6, :6], clean[:6, :6])[1] is None  # under SSIM's 7x7 window
