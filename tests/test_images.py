"""Image files: what is written reads back the same, and a format that cannot hold an image is
refused before anything is written. The CLI's refusals of bad files are in test_cli.py; denoising
a file, in test_inference.py."""

from __future__ import annotations

import numpy as np
import pytest

from n2n_utils.images import ImageError, probe_image, read_image, write_image


@pytest.mark.parametrize("suffix, shape, dtype", [
    (".png", (30, 40, 3), np.uint8), (".png", (30, 40, 4), np.uint8), (".png", (30, 40), np.uint8),
    (".png", (30, 40, 2), np.uint8), (".png", (30, 40), np.uint16), (".tif", (30, 40, 3), np.uint16),
    (".tif", (30, 40, 4), np.uint16), (".tif", (30, 40), np.uint16), (".bmp", (30, 40, 3), np.uint8),
])
def test_files_round_trip_losslessly(tmp_path, suffix, shape, dtype):
    image = np.random.default_rng(1).integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    path = write_image(tmp_path / f"x{suffix}", image)
    assert probe_image(path) == (*shape[:2], shape[2] if len(shape) == 3 else 1, np.dtype(dtype))
    back, _ = read_image(path)
    assert back.dtype == image.dtype and np.array_equal(back, image)
    assert [p.name for p in tmp_path.iterdir()] == [f"x{suffix}"]  # no temporary file left


def test_formats_that_cannot_hold_the_image_are_refused(tmp_path):
    with pytest.raises(ImageError, match=r"JPEG cannot hold an 8-bit RGBA image; write .*\.png"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ImageError, match=r"write \.tif, \.tiff instead"):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(ImageError, match="unknown output extension"):
        write_image(tmp_path / "x.xyz", np.zeros((4, 4, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_images_do_not_import_the_network():
    """One direction: inference reads and writes files through images, never the reverse."""
    import subprocess
    import sys

    code = "import sys, n2n_utils.images; print(sorted(m for m in sys.modules if m.startswith('n2n_utils')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "n2n_utils.images" in loaded
    assert "n2n_utils.inference" not in loaded and "n2n_utils.models" not in loaded
