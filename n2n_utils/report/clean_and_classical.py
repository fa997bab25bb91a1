"""Section 7, the first of what the study adds to the EE-559 report: Noise2Noise against clean
targets (Noise2Clean, the same network and budget) and classical denoisers, per noise model,
with the augmentation ablation and the learning curve (notebook 05). Its numbers are
paired.compared's, which section 11 shares.
"""

from __future__ import annotations

import ast

import pandas as pd

from ..comparisons import NO_AUGMENTATION
from ..findings import count, half_width_words, paired_ci_words
from ..gaps import N2C_MINUS_N2N, N2N_MINUS_CLASSICAL, SAME_SIGN, SETTING_MINUS_NONE, TARGET_GAP_TO_N2C_DB
from ..noise import params_words
from ..seeds import N_SEEDS
from ..sweeps import NO_CI
from .paired import Compared, compared, photos_of
from .results import Results
from .words import made_by, markdown_table, not_run, seeds_note

# How gaps.photo_gaps' gaps read in the per-photo table; {} is the best classical method
_GAP_NAMES = {N2C_MINUS_N2N: "Noise2Clean - Noise2Noise", N2N_MINUS_CLASSICAL: "Noise2Noise - {}"}
# How the results' columns read in section 7's tables: with their units
_HEADERS = {"psnr": "PSNR (dB)", "psnr_ci95": "95% CI (dB)", "ssim": "SSIM", "params": "parameters"}


def _headed(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its columns named as section 7's tables show them (_HEADERS)."""
    return frame.rename(columns=_HEADERS)


def _params_cell(params) -> str:
    """A method's parameters as comparisons.csv keeps them, in words: a classical method's mapping
    (its text, as written) with sigmas in grey levels of 255 (noise.params_words: "{'sigma':
    0.098...}" reads 'sigma 25/255'); a network's recipe, already words, as it is; none: ''."""
    if pd.isna(params):
        return ""
    return params_words(ast.literal_eval(params)) if str(params).startswith("{") else str(params)


def section_comparisons(res: Results) -> str:
    """Section 7 (comparisons.json and .csv, augmentation_ablation.csv, learning_curve.csv, and
    their _per_crop.csv where recorded): PSNR of every method per noise model, the headline on
    gaussian noise with its gaps paired crop by crop, each noise's gaps on every held-out photo,
    the augmentation ablation and the learning curve, every number from paired.compared. Results
    from before the per-crop scores were kept give the gaps without CIs."""
    heading = "## 7. Noise2Noise against clean targets and classical denoisers"
    numbers = compared(res)
    if numbers is None:
        return not_run(heading)
    table, meta, headline, gaps = numbers.table, numbers.meta, numbers.headline, numbers.gaps
    psnr = table.pivot(index="method", columns="noise", values="psnr").reindex(list(dict.fromkeys(table["method"])))
    psnr = psnr[list(dict.fromkeys(table["noise"]))].reset_index()
    gaussian = table[table["noise"] == "gaussian"][["method", "psnr", "psnr_ci95", "ssim", "seconds", "params"]]
    gaussian = gaussian.assign(params=gaussian["params"].map(_params_cell))
    gap_n2c = headline["n2c"] - headline["n2n"]
    gap_classical = headline["n2n"] - headline["best_classical_psnr"]
    ablation, curve = res.csv("augmentation_ablation"), res.csv("learning_curve")
    clean_ci = classical_ci = ""  # without per-crop scores: the gaps alone
    paired_note = _paired_note(numbers) + _per_photo_note(numbers)
    if gaps is not None:
        runs = headline[N_SEEDS]
        clean_words = paired_ci_words(gap_n2c, headline[f"{N2C_MINUS_N2N}_ci95"], runs, TARGET_GAP_TO_N2C_DB)
        clean_ci = f" ({clean_words})"
        classical_ci = f" ({paired_ci_words(gap_classical, headline[f'{N2N_MINUS_CLASSICAL}_ci95'], runs)})"
    parts = [f"""{heading}

Every method on the same {meta['n_val']} held-out validation crops per noise model. The two
ResUNets get the same budget ({meta['n_train']:,} pairs, {meta['base_config']['epochs']} epochs,
batch {meta['base_config']['batch_size']}), each with the loss that suits the noise (L2 for
gaussian and poisson, L1 for impulse and text) and the augmentations that keep its law; the
classical methods are tuned on {meta['n_tune']} *training* crops ({made_by(meta)}).{seeds_note(
    meta, 'Each ResUNet row (and the ablation and learning curve below) is')}

**Headline, gaussian sigma 25/255:** noisy {headline['noisy']:.2f} dB, best classical
({headline['best_classical']}) {headline['best_classical_psnr']:.2f} dB, Noise2Noise {headline['n2n']:.2f} dB,
Noise2Clean {headline['n2c']:.2f} dB. Noise2Noise is {abs(gap_n2c):.2f} dB
{'below' if gap_n2c > 0 else 'above'} Noise2Clean{clean_ci} and {abs(gap_classical):.2f} dB
{'above' if gap_classical >= 0 else 'below'} {headline['best_classical']}{classical_ci} at this budget.{paired_note}

PSNR (dB) per method and noise model:

{markdown_table(psnr)}

{res.figure('fig6_comparisons', 'PSNR per noise model and method (95% CI).')}

Gaussian noise in detail (seconds: wall time to denoise the validation crops on the CPU):

{markdown_table(_headed(gaussian), ('g', '.2f', '.2f', '.3f', '.2f', 'g'))}"""]
    if ablation is not None:
        parts.append("Augmentation (gaussian, same budget):\n\n"
                     + markdown_table(_headed(ablation[["augmentation", "psnr", "psnr_ci95", "ssim"]]),
                                      ("g", ".2f", ".2f", ".3f")))
        if (settings := numbers.ablation) is not None:
            parts.append(f"Each setting minus {NO_AUGMENTATION} (no augmentation), paired crop by crop: " + "; ".join(
                _paired_words(row["augmentation"], row, SETTING_MINUS_NONE) for _, row in settings.iterrows()) + ".")
    if curve is not None:
        parts.append(res.figure("fig7_learning_curve", "PSNR against the number of training pairs, "
                                "at an equal number of optimizer steps."))
        parts.append(markdown_table(_headed(curve[["n_train", "target", "epochs", "psnr", "psnr_ci95"]]),
                                    ("g", "g", "g", ".2f", ".2f")))
        if (along_curve := numbers.along_curve) is not None:
            parts.append("Noise2Clean minus Noise2Noise along the curve, paired: " + "; ".join(
                _paired_words(f"at {row['n_train']:,} pairs", row, N2C_MINUS_N2N) for _, row in along_curve.iterrows())
                + ".")
    return "\n\n".join(parts)


def _paired_words(label: str, row: pd.Series, key: str) -> str:
    """A paired gap `key` of a row of comparisons' paired tables (with `<key>_ci95` and N_SEEDS)
    after its label: 'at 500 pairs +0.54 dB (paired 95% CI ± 0.12 dB, ...)'."""
    return f"{label} {row[key]:+.2f} dB ({paired_ci_words(row[key], row[f'{key}_ci95'], row[N_SEEDS])})"


def _gap_cell(gap: float, half: float) -> str:
    """A paired gap and its 95% CI in a table cell: '+0.08 ± 0.05', or '+0.08 ± n/a'; no gap
    (a noise no classical method suits): 'n/a'."""
    return NO_CI if pd.isna(gap) else f"{gap:+.2f} ± {half_width_words(half)}"


def _paired_note(numbers: Compared) -> str:
    """Section 7's paragraph on the paired gaps, per noise model, and on what their CIs (and
    every CI over crops) cover; "" where the per-crop scores were not recorded."""
    gaps, per_crop = numbers.gaps, numbers.per_crop
    if gaps is None:
        return ""
    photos = len(photos_of(per_crop))
    seeds = numbers.meta.get("seeds") or []
    covers = (f"over the crops and the {len(seeds)} training seeds (seed s of one network paired with seed s of the "
              "other, a classical method with every seed)" if len(seeds) > 1 else
              "over the crops (one seed: the spread between training runs is left out)")
    shown = pd.DataFrame({"noise": gaps.index,
                          "Noise2Clean - Noise2Noise (dB)": list(map(_gap_cell, gaps[N2C_MINUS_N2N],
                                                                     gaps[f"{N2C_MINUS_N2N}_ci95"])),
                          "best classical": gaps["best_classical"],
                          "Noise2Noise - best classical (dB)": list(map(_gap_cell, gaps[N2N_MINUS_CLASSICAL],
                                                                        gaps[f"{N2N_MINUS_CLASSICAL}_ci95"]))})
    scope = (f"it is for more crops of these {count(photos, 'held-out photo')}, not for new photos: the "
             "photo-to-photo spread is what section 8's leave-photos-out cross-validation measures" if photos else
             "it is for more images drawn as these validation images were, not for images of another kind")
    return f"""

**Paired gaps.** Every method is scored on the same crops, so a gap between two is judged on
their difference crop by crop (PSNR a - PSNR b), which takes out how hard each crop is, shared
by both: its 95% CI, {covers}, is usually far tighter than the two rows' own CIs side by side.
Like every CI over crops in this section, {scope}. Per noise model (mean ± half-width of the paired
95% CI):

{markdown_table(shown, 'g')}"""


def _per_photo_note(numbers: Compared) -> str:
    """Section 7's paragraph on each headline gap on each held-out photo alone and whether it
    keeps its sign on all of them (gaps.photo_gaps); "" where the per-crop scores name
    fewer than two photos."""
    by_photo, photos = numbers.by_photo, photos_of(numbers.per_crop)
    if by_photo is None:
        return ""
    shown = pd.DataFrame({"noise": by_photo["noise"],
                          "gap (dB)": [_GAP_NAMES[key].format(best) for key, best in
                                       zip(by_photo["gap"], by_photo["best_classical"], strict=True)],
                          **{photo: by_photo[photo] for photo in photos},
                          "same sign": by_photo[SAME_SIGN].map({True: "yes", False: "no"})})
    held, freedom = by_photo[SAME_SIGN].sum(), len(photos) - 1
    seeds = ", and over the seeds" if len(numbers.meta.get("seeds") or []) > 1 else ""
    return f"""

**Per held-out photo.** The crops come from {count(len(photos), 'held-out photo')}: a CI clustered by
photo would have {freedom} degree{'s' if freedom > 1 else ''} of freedom and be too wide to tell much. Instead, each gap
on each photo alone (the mean over its crops{seeds}) and whether it has the same sign on every photo:

{markdown_table(shown, ('g', 'g', *['+.2f'] * len(photos), 'g'))}

{held} of {count(len(by_photo), 'gap')} keep one sign on every photo. That is weak evidence with so
few photos: a gap with no real direction, its sign on each photo a coin toss, would keep one sign
on all {len(photos)} photos 1 time in {2 ** freedom}."""
