"""Figures. Each function takes data (tables, uint8 or 0-1 images) and returns a Figure;
`save_figure` writes it as PNG and PDF. No function here trains or evaluates anything."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .files import write_atomic
from .sweeps import best_value, diverged_values

sns.set_theme(context="paper", style="whitegrid")


def save_figure(fig: plt.Figure, folder: str | Path, stem: str,
                formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write `fig` to folder/stem.png and folder/stem.pdf (atomically); return the paths."""
    paths = []
    for fmt in formats:
        path = Path(folder) / f"{stem}.{fmt}"
        write_atomic(path, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=150,
                                                            bbox_inches="tight"))
        paths.append(path)
    return paths


def to_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 0-255 or float 0-1 -> (H, W, C) float 0-1 for imshow."""
    image = torch.as_tensor(image)
    image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
    return image.clamp(0, 1).permute(1, 2, 0).numpy()


def plot_sweep(summary: pd.DataFrame, xlabel: str, logx: bool = True,
               reference: float | None = None, title: str = "") -> plt.Figure:
    """Mean validation PSNR per swept value with 95% CI error bars (from sweeps.summarize).
    `reference` marks the report's choice; the best mean is highlighted; a value with a run that
    diverged (`n_diverged`) is marked with a cross at the bottom, and its mean, of the runs that
    finished (if any did), with a ring. A mean of one run has no CI (NaN): no error bar, and a
    square says so (a bar of zero length would read as certainty)."""
    best = summary[summary["value"] == best_value(summary)].iloc[0]  # every value diverged: its ValueError
    fig, ax = plt.subplots(figsize=(5, 3.4))
    finished = summary["n_runs"] - summary.get("n_diverged", 0)
    with_ci = summary["psnr_ci95"].notna()
    ax.errorbar(summary["value"], summary["psnr_mean"], yerr=summary["psnr_ci95"], fmt="o-", capsize=3,
                label=f"mean of {int(finished[with_ci].min())}+ seeds, 95% CI" if with_ci.any() else "one seed")
    one_run = summary[summary["psnr_mean"].notna() & ~with_ci]
    if len(one_run):
        ax.plot(one_run["value"], one_run["psnr_mean"], "s", markersize=8, markerfacecolor="none", color="C0",
                label="one run finished: no CI")
    ax.plot(best["value"], best["psnr_mean"], "*", markersize=14, color="C3",
            label=f"best: {best['value']:g}")
    diverged = diverged_values(summary)
    if len(diverged):
        ax.plot(diverged["value"], [ax.get_ylim()[0]] * len(diverged), "x", markersize=9, color="C3",
                clip_on=False, label="diverged (a run's loss or output not finite)")
        if diverged["psnr_mean"].notna().any():
            ax.plot(diverged["value"], diverged["psnr_mean"], "o", markersize=11, markerfacecolor="none",
                    color="C3", label="mean of the runs that did not diverge")
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle=":", label=f"report: {reference:g}")
    if logx:
        ax.set_xscale("log", base=2 if xlabel.lower().startswith("batch") else 10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation PSNR (dB)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_training_curves(history: pd.DataFrame, noisy_psnr: float | None = None) -> plt.Figure:
    """Training loss and validation PSNR per epoch (history from training.train). A history of
    several seeds (a `seed` column, seeds.SEED) is drawn as their mean with error bars for the
    95% CI across seeds (metrics.mean_ci)."""
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(8, 3))
    n_seeds = history["seed"].nunique() if "seed" in history.columns else 1
    _plot_over_seeds(ax_loss, history, "train_loss", n_seeds)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (noisy target)")
    valid = history.dropna(subset=["val_psnr"])
    _plot_over_seeds(ax_psnr, valid, "val_psnr", n_seeds,
                     "ResUNet" if n_seeds == 1 else f"ResUNet, mean of {n_seeds} seeds, 95% CI")
    if noisy_psnr is not None:
        ax_psnr.axhline(noisy_psnr, color="grey", linestyle=":", label="noisy input")
    ax_psnr.set_xlabel("epoch")
    ax_psnr.set_ylabel("validation PSNR (dB)")
    ax_psnr.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _plot_over_seeds(ax: plt.Axes, history: pd.DataFrame, column: str, n_seeds: int, label: str | None = None) -> None:
    """`column` per epoch: the one run's values, or the mean over seeds with its 95% CI."""
    if n_seeds == 1:
        ax.plot(history["epoch"], history[column], "o-", label=label)
        return
    from .metrics import mean_ci

    per_epoch = [(epoch, *mean_ci(group[column])) for epoch, group in history.groupby("epoch")]
    epochs, means, halves = (np.array(v) for v in zip(*per_epoch, strict=True))
    ax.errorbar(epochs, means, yerr=halves, fmt="o-", capsize=3, label=label)


def plot_image_grid(columns: dict[str, torch.Tensor], row_labels: list[str] | None = None,
                    size: float = 1.8) -> plt.Figure:
    """A grid: one column per entry of `columns` (title -> images (N, C, H, W)), one row per image."""
    titles = list(columns)
    n = len(next(iter(columns.values())))
    fig, axes = plt.subplots(n, len(titles), figsize=(size * len(titles), size * n), squeeze=False)
    for j, title in enumerate(titles):
        for i in range(n):
            ax = axes[i, j]
            ax.imshow(to_hwc(columns[title][i]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i == 0:
                ax.set_title(title, fontsize=9)
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], fontsize=8)
    fig.tight_layout()
    return fig


def plot_noise_histogram(noisy_a: torch.Tensor, noisy_b: torch.Tensor) -> plt.Figure:
    """Histograms of noisy_a - noisy_b per channel (uint8 inputs). For independent noise of
    standard deviation sigma, the difference has standard deviation sigma * sqrt(2)."""
    diff = noisy_a.float() - noisy_b.float()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for c, colour in enumerate(["red", "green", "blue"][: diff.shape[1]]):
        values = diff[:, c].flatten().numpy()
        sigma = values.std() / np.sqrt(2)
        ax.hist(values, bins=np.arange(-255.5, 256.5, 4), histtype="step", color=colour,
                density=True, label=f"{colour}: sigma = {sigma:.1f}/255")
    ax.set_xlim(-120, 120)
    ax.set_xlabel("noisy1 - noisy2 (0-255 units)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_grouped_bars(table: pd.DataFrame, x: str = "noise", hue: str = "method",
                      error: str = "psnr_ci95", xlabel: str = "noise model") -> plt.Figure:
    """Grouped bars of PSNR: one group per value of column `x`, one colour per value of `hue`,
    with `error` (a CI half-width column) as error bars where present. Used for the comparisons
    (x = noise) and the generalisation study (x = held-out photo)."""
    groups = list(dict.fromkeys(table[x]))
    hues = list(dict.fromkeys(table[hue]))
    width = 0.8 / len(hues)
    fig, ax = plt.subplots(figsize=(1.8 + 1.9 * len(groups), 3.6))
    for k, name in enumerate(hues):
        rows = table[table[hue] == name].set_index(x).reindex(groups)
        positions = np.arange(len(groups)) - 0.4 + width * (k + 0.5)
        yerr = rows[error] if error in rows else None
        ax.bar(positions, rows["psnr"], width, yerr=yerr, capsize=2, label=name)
    ax.set_xticks(np.arange(len(groups)), groups)
    low = np.nanmin(table["psnr"]) - 2
    ax.set_ylim(max(0, low), np.nanmax(table["psnr"]) + 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation PSNR (dB)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_learning_curve(curve: pd.DataFrame) -> plt.Figure:
    """PSNR against the number of training pairs, one line per target mode."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for target, rows in curve.groupby("target", sort=False):
        ax.errorbar(rows["n_train"], rows["psnr"], yerr=rows["psnr_ci95"], fmt="o-", capsize=3,
                    label=target)
    ax.set_xscale("log")
    ax.set_xlabel("training pairs (equal optimizer steps)")
    ax.set_ylabel("validation PSNR (dB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_psnr_vs_sigma(summary: pd.DataFrame, note: str = "") -> plt.Figure:
    """Mean PSNR (dB) against the noise's sigma (in 1/255): one line per column of `summary`
    (index sigma_255, e.g. blind.sweep_summary). `note` goes under the axis label (e.g. the photos)."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for method in summary.columns:
        style = "--" if method.startswith("noisy") else "o-"
        ax.plot(summary.index, summary[method], style, label=method, markersize=4)
    ax.set_xticks(list(summary.index))
    ax.set_xlabel("gaussian noise sigma (/255)" + (f"\n{note}" if note else ""))
    ax.set_ylabel("PSNR (dB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_panels(panels: list[dict], box: tuple[int, int, int, int] | None = None,
                size: float = 2.6, title: str = "") -> plt.Figure:
    """Images side by side, each titled with its label and caption; with `box` = (top, left,
    height, width) in pixels, a second row shows that region of every image, enlarged, and the
    first row outlines it. A panel is a dict: label, image (uint8 H x W x 3, or None for an empty
    panel), caption (one line under the label), zoom_caption (under the enlarged region)."""
    rows = 2 if box else 1
    fig, axes = plt.subplots(rows, len(panels), figsize=(size * len(panels), size * rows * 0.9), squeeze=False)
    for j, panel in enumerate(panels):
        for i in range(rows):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            image = panel.get("image")
            if image is None:
                ax.text(0.5, 0.5, panel.get("caption", ""), ha="center", va="center", fontsize=8,
                        wrap=True, transform=ax.transAxes)
                if i == 0:
                    ax.set_title(panel["label"], fontsize=8)
                continue
            if i == 0:
                ax.imshow(image, interpolation="nearest")
                ax.set_title(f"{panel['label']}\n{panel.get('caption', '')}", fontsize=8)
                if box:
                    top, left, h, w = box
                    ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), w, h, fill=False, color="yellow", lw=1.2))
            else:
                top, left, h, w = box
                ax.imshow(image[top:top + h, left:left + w], interpolation="nearest")
                ax.set_title(panel.get("zoom_caption", ""), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
