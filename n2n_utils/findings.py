"""What each notebook found, in words computed from its results: the sentence its closing cell
prints, so that a reader in JupyterLab learns it without the report. PSNR in dB throughout.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from .blind import TARGET_BM3D_SIGMAS_255, TARGET_GAP_DB, sweep_targets
from .gaps import N2C_MINUS_N2N, N2N_MINUS_CLASSICAL, TARGET_GAP_TO_N2C_DB
from .generalisation import worst_photo
from .noise import params_words
from .seeds import N_SEEDS
from .sweeps import NO_CI, diverged_values, diverged_words, mean_words, verdict

if TYPE_CHECKING:
    from .explore import Explorer


def count(n: int, noun: str) -> str:
    """'1 epoch', '3 epochs': a whole number with its noun, plural but for one."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def change_verb(before: float, after: float) -> str:
    """The verb for a PSNR that goes from `before` to `after` (dB): 'lifts', 'lowers' or 'leaves'
    (the same to 0.01 dB), so that a run too short to denoise is not said to lift its input."""
    if round(after, 2) == round(before, 2):
        return "leaves"
    return "lifts" if after > before else "lowers"


def data_finding(noisy_psnr: float, sigma_255: float, meta: dict) -> str:
    """Notebook 00: the baseline to beat and the noise level read from the pairs alone."""
    asked = params_words(meta.get("noise_params") or {})
    return (f"The noisy validation input scores {noisy_psnr:.2f} dB against the clean images: the "
            f"baseline every method must beat. From the noisy pairs alone, std(noisy1 - noisy2) / sqrt(2) "
            f"estimates the noise at {sigma_255:.1f}/255 ({meta.get('noise', 'unknown')} noise"
            f"{f' with {asked}' if asked else ''}; clipping at 0 and 255 narrows it).")


def training_finding(noisy_psnr: float, val_psnr: float, by_photo: pd.DataFrame, epochs: int,
                     n_train: int, n_seeds: int = 1, ci95: float = 0.0) -> str:
    """Notebook 01: what training bought, on average and on the weakest held-out photo
    (`by_photo`: metrics.psnr_by_group's columns group, psnr, plus noisy). With several seeds,
    `val_psnr` is their mean and `ci95` the half-width of its 95% CI across them."""
    photos = by_photo[by_photo["group"] != "all"]
    seeds = f", the mean of {n_seeds} seeds ± {ci95:.2f} dB" if n_seeds > 1 else ""
    text = (f"After {count(epochs, 'epoch')} on {n_train:,} pairs the ResUNet {change_verb(noisy_psnr, val_psnr)} "
            f"the held-out images from "
            f"{noisy_psnr:.2f} dB (noisy input) to {val_psnr:.2f} dB ({val_psnr - noisy_psnr:+.2f} dB{seeds}).")
    if len(photos) > 1:
        worst = photos.loc[photos["psnr"].idxmin()]
        text += (f" Its weakest held-out photo is {worst['group']} at {worst['psnr']:.2f} dB "
                 f"({worst['psnr'] - worst['noisy']:+.2f} dB over its noisy input).")
    return text


def sweep_finding(summary: pd.DataFrame, label: str, chosen) -> str:
    """Notebooks 02 and 03: whether the report's value of a swept option holds against the best
    (sweeps.verdict: within the two 95% confidence intervals; not where a run of it diverged),
    and which values had a run that diverged."""
    v = verdict(summary, chosen)
    best = summary.set_index("value").loc[v["best"]]
    at_best = f"{v['best']:g} ({mean_words(best['psnr_mean'], best['psnr_ci95'])})"
    if v["diverged"]:  # whatever its other runs scored; the runs it lost are listed below
        found = f"The report's {label} does not hold at this budget: {chosen:g} diverged; the best is {at_best}."
    elif v["best"] == chosen:
        found = f"The report's {label} holds: {chosen:g} scores best here, {at_best}."
    elif v["tied"] is None:  # one run at a value: neither "within" nor "outside" can be said
        found = (f"Whether the report's {label} holds cannot be judged at this budget: {chosen:g} is {v['gap']:.2f} dB "
                 f"below the best, {at_best}, and one run gives no confidence interval.")
    elif v["tied"]:
        found = (f"The report's {label} holds: {chosen:g} is {v['gap']:.2f} dB below the best, {at_best}, "
                 f"within the confidence intervals.")
    else:
        found = (f"The report's {label} does not hold at this budget: {chosen:g} is {v['gap']:.2f} dB below the "
                 f"best, {at_best}, outside the confidence intervals.")
    diverged = diverged_values(summary)
    if len(diverged):
        found += f" Diverged: {diverged_words(diverged)}."
    return found


def predictions_finding(noisy_psnr: float, denoised_psnr: float, gains) -> str:
    """Notebook 04: the mean gain and its spread over images (`gains`: per-image dB)."""
    gains = pd.Series(list(map(float, gains)))
    return (f"Denoising {change_verb(noisy_psnr, denoised_psnr)} the mean PSNR from {noisy_psnr:.2f} to "
            f"{denoised_psnr:.2f} dB; per image the gain ranges from {gains.min():.1f} to {gains.max():.1f} dB "
            f"(median {gains.median():.1f} dB), and "
            f"{(gains < 0).mean():.0%} of the images lose.")


def half_width_words(half: float) -> str:
    """A 95% CI half-width (dB) as shown: '0.05', to 0.01 dB as every PSNR; one that small
    rounding would show as 0.00 (it is not 0), to one significant digit, '0.004'; NaN: NO_CI."""
    if math.isnan(half):
        return NO_CI
    return f"{half:.1g}" if 0 < half < 0.005 else f"{half:.2f}"


def paired_ci_words(gap: float, half: float, n_seeds: int, target: float | None = None) -> str:
    """Where a paired gap stands against its 95% CI (`gap`: a - b in dB, `half`: its half-width,
    metrics.paired_gap, over `n_seeds` training seeds), for parentheses after it: 'paired 95% CI
    ± 0.05 dB, which excludes 0' (or 'includes 0': no difference these crops resolve); with a
    `target`, the most a - b may be (dB), also whether the CI 'lies within' it (all of it at or
    below), 'lies beyond' it (all above) or 'straddles' it. Where no CI can be given (NaN):
    'paired 95% CI n/a'.
    From one seed (one training run a side) the CI covers the crops alone: a second run of the
    same network may move its PSNR by more than such a CI's width, so no verdict on 0 is given,
    and the target is judged on the gap itself."""
    if math.isnan(half):
        return f"paired 95% CI {NO_CI}"
    if n_seeds < 2:
        words = (f"paired 95% CI ± {half_width_words(half)} dB, over the crops alone: one training run, whose "
                 f"spread between runs it leaves out")
        if target is not None:
            words += f"; the gap itself is {'within' if gap <= target else 'beyond'} the {target:g} dB target"
        return words
    low, high = gap - half, gap + half
    words = f"paired 95% CI ± {half_width_words(half)} dB, which {'excludes' if low > 0 or high < 0 else 'includes'} 0"
    if target is not None:
        where = "lies within" if high <= target else "lies beyond" if low > target else "straddles"
        words += f" and {where} the {target:g} dB target"
    return words


def comparisons_finding(headline: dict, noise: str = "gaussian") -> str:
    """Notebook 05: Noise2Noise against Noise2Clean and the best classical method
    (`headline`: gaps.headline). Where the headline has the paired gaps (from per-crop
    scores), each gap comes with its paired 95% CI, whether 0 lies inside it (a gap whose CI
    includes 0 is no difference this study resolves) and, for Noise2Clean, where the CI stands
    against the target; a headline without them (written before per-crop scores were kept)
    gives the gaps alone."""
    h = headline
    paired = N2C_MINUS_N2N in h
    # the difference of the means: the mean paired difference, to the 1e-4 dB the per-crop files keep
    to_clean, to_classical = h["n2c"] - h["n2n"], h["n2n"] - h["best_classical_psnr"]
    runs = h.get(N_SEEDS, 1)  # a headline without it (written before it was kept): no verdict
    clean_ci = (f" ({paired_ci_words(to_clean, h[f'{N2C_MINUS_N2N}_ci95'], runs, TARGET_GAP_TO_N2C_DB)})"
                if paired else "")
    classical_ci = f"; {paired_ci_words(to_classical, h[f'{N2N_MINUS_CLASSICAL}_ci95'], runs)}" if paired else ""
    return (f"On {noise} noise, Noise2Noise scores {h['n2n']:.2f} dB: {abs(to_clean):.2f} dB "
            f"{'below' if to_clean > 0 else 'above'} Noise2Clean at the same budget{clean_ci}, and "
            f"{abs(to_classical):.2f} dB {'above' if to_classical >= 0 else 'below'} the best classical method, "
            f"{h['best_classical']} ({h['best_classical_psnr']:.2f} dB{classical_ci}), from a noisy input at "
            f"{h['noisy']:.2f} dB.")


def bm3d_target_words(target_db: float) -> str:
    """A profile's target against BM3D (profiles.Profile.target_over_bm3d_db, dB) in words:
    'at or above BM3D', or 'at least 0.5 dB above BM3D'."""
    return "at or above BM3D" if target_db == 0 else f"at least {target_db:g} dB above BM3D"


def target_verdict(margin: float) -> str:
    """A target judged on `margin`, how far (dB) a number lies past the least it must reach
    (negative: short of it): 'met, by 0.11 dB' or 'missed, by 2.21 dB'."""
    return f"{'met' if margin >= 0 else 'missed'}, by {abs(margin):.2f} dB"


def listing(items) -> str:
    """Names in words: 'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    return " and ".join(filter(None, [", ".join(items[:-1]), *items[-1:]]))


def third_split_words(estimate: dict) -> str:
    """The chosen recipe's held-out estimate (generalisation.third_split_estimate, or as a results
    file keeps it: a CI of None for one photo) in words: 'on the 7 other photos, where no recipe
    was compared, each scored by a network that never saw it, it is 2.40 dB below BM3D (± 0.85
    dB, 95% CI over photos)'."""
    gap, half = estimate["gap"], estimate["gap_ci95"]
    ci = ("one photo: no CI" if half is None or math.isnan(half) else f"± {half:.2f} dB, 95% CI over photos")
    return (f"on the {count(len(estimate['test_photos']), 'other photo')}, where no recipe was compared, each "
            f"scored by a network that never saw it, it is {abs(gap):.2f} dB {'above' if gap >= 0 else 'below'} "
            f"{estimate['against']} ({ci})")


def generalisation_finding(gap: pd.DataFrame, best: str, cv_gap: pd.DataFrame | None = None,
                           third_split: dict | None = None) -> str:
    """Notebook 06: the best recipe against BM3D on the mean and on its worst photo (`gap`:
    generalisation.gap_to), and on the photos it was not chosen on (`third_split`:
    generalisation.third_split_estimate, from the cross-validation) or, without that, the range of
    the cross-validation's photo means (`cv_gap`: gap_to of its table; None: not run)."""
    row = gap.loc[best]
    worst = worst_photo(row)
    text = (f"The best recipe, {best}, is {abs(row['all']):.2f} dB {'above' if row['all'] >= 0 else 'below'} "
            f"BM3D on the held-out photos' mean; its worst photo is {worst} ({row[worst]:+.2f} dB).")
    if third_split:
        text += f" It was chosen on {listing(third_split['selection_photos'])}; {third_split_words(third_split)}."
    elif cv_gap is not None and len(cv_gap):
        means = cv_gap["photo mean"]
        text += (f" Over every photo held out once (cross-validation), the networks' photo means lie "
                 f"{means.min():+.2f} to {means.max():+.2f} dB from BM3D.")
    return text


def explorer_finding(explorer: Explorer) -> str:
    """Notebook 07: what the explorer shows now, each method's PSNR and the seconds it took."""
    shown = [p for p in explorer.panels if p.get("image") is not None and p.get("seconds") is not None]
    parts = [f"{p['label']} {p['psnr']:.2f} dB in {p['seconds']:.2f} s" if p.get("psnr") is not None
             else f"{p['label']} in {p['seconds']:.2f} s" for p in shown]
    if not parts:  # the upload chosen and none uploaded yet, or an image that could not be read
        return f"{explorer.title()}: nothing shown ({explorer.message or 'no image'})."
    return f"{explorer.title()}: " + "; ".join(parts) + "."


def sigma_sweep_finding(summary: pd.DataFrame) -> str:
    """Notebook 07: the blind weights against their targets, in two sentences, from the
    PSNR-against-sigma summary (blind.sweep_summary; targets from blind.sweep_targets)."""
    t = sweep_targets(summary)
    met = lambda ok: "target met" if ok else "target missed"
    return (f"At sigma 25/255 the blind weights score {t['gap_to_sigma25_at_25']:+.2f} dB against the "
            f"weights trained at that level alone ({met(t['sigma25_met'])}: within {TARGET_GAP_DB} dB). "
            f"Against BM3D given the true sigma, their worst level from {TARGET_BM3D_SIGMAS_255[0]} to "
            f"{TARGET_BM3D_SIGMAS_255[1]}/255 is {t['worst_sigma_255']}/255, at {t['worst_gap_to_bm3d']:+.2f} dB "
            f"({met(t['bm3d_met'])}: no more than {TARGET_GAP_DB} dB below)" + (
                f"; with the test-time ensemble, {t['worst_sigma_255_ensemble']}/255 at "
                f"{t['worst_gap_to_bm3d_ensemble']:+.2f} dB ({met(t['bm3d_met_ensemble'])})."
                if "bm3d_met_ensemble" in t else "."))
