import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from n2n_utils.plots import (  # noqa: E402
    plot_image_grid,
    plot_noise_histogram,
    plot_sweep,
    plot_training_curves,
    save_figure,
)


def test_plot_sweep_writes_png_and_pdf(tmp_path):
    summary = pd.DataFrame({"value": [1e-4, 8e-4, 3e-3], "psnr_mean": [25.0, 26.0, 24.0],
                            "psnr_ci95": [0.1, 0.2, 0.3], "n_runs": [3, 3, 3]})
    fig = plot_sweep(summary, "learning rate", reference=8e-4, title="Fig. 2")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "validation PSNR (dB)"
    assert ax.get_xscale() == "log" and ax.get_title() == "Fig. 2"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "best: 0.0008" in labels and "report: 0.0008" in labels
    paths = save_figure(fig, tmp_path, "fig2_lr")
    assert [p.name for p in paths] == ["fig2_lr.png", "fig2_lr.pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig2_lr.pdf", "fig2_lr.png"]


def test_training_curves_axes():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.02, 0.01], "val_psnr": [25.0, 27.0]})
    fig = plot_training_curves(history, noisy_psnr=20.0)
    assert [a.get_xlabel() for a in fig.axes] == ["epoch", "epoch"]
    assert fig.axes[1].get_ylabel() == "validation PSNR (dB)"
    assert fig.axes[1].lines[0].get_ydata().tolist() == [25.0, 27.0]


def test_image_grid_shape_and_titles():
    images = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    fig = plot_image_grid({"noisy": images, "prediction": images.float() / 255, "truth": images},
                          ["a", "b", "c"])
    assert len(fig.axes) == 9
    assert [fig.axes[j].get_title() for j in range(3)] == ["noisy", "prediction", "truth"]
    assert fig.axes[3].get_ylabel() == "b"


def test_noise_histogram_estimates_sigma():
    g = torch.Generator().manual_seed(0)
    base = torch.full((50, 3, 16, 16), 128.0)
    a = (base + 20 * torch.randn(base.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)
    b = (base + 20 * torch.randn(base.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)
    fig = plot_noise_histogram(a, b)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(labels) == 3 and all(abs(float(t.split("= ")[1].split("/")[0]) - 20) < 0.6 for t in labels)
