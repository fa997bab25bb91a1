"""Sections 8 and 9, the last of what the study adds to the EE-559 report (section 7 is
clean_and_classical's): generalisation to unseen photos with its cross-validation (notebook 06),
and the blind gaussian weights at any noise level (notebook 07).
"""

from __future__ import annotations

import pandas as pd

from ..findings import bm3d_target_words, count, target_verdict, third_split_words
from ..generalisation import BM3D, TARGET_WORST_PHOTO_DB, TEST_MEAN, photos_of, worst_photo
from ..profiles import PROFILES
from ..weights import images_before
from .results import Results
from .words import images_seen_words, made_by, markdown_table, not_run, seeds_note


def section_generalisation(res: Results) -> str:
    """Section 8 (generalisation.json): PSNR per held-out photo for each training recipe beside
    BM3D and TV, the gap to BM3D, the shipped weights and the cross-validation."""
    heading = "## 8. Generalisation to unseen photos"
    meta = res.json("generalisation")
    if not meta:
        return not_run(heading)
    table = pd.DataFrame(meta["table"])
    gap = pd.DataFrame(meta["gap_to_bm3d"])
    best = gap.set_index("method").loc[meta["best_recipe"]]
    against_bm3d = ("at or above" if best["all"] >= 0 else f"{-best['all']:.2f} dB below")
    return f"""{heading}

Each recipe of training content and augmentation trains one Noise2Noise ResUNet at the same
budget ({meta['n_train']:,} pairs, {meta['base_config']['epochs']} epochs); all are scored per
held-out photo beside BM3D and TV on the same crops ({made_by(meta)}).{seeds_note(
    meta, 'Each network row, here and in the cross-validation, is')}

{markdown_table(table)}

{res.figure('fig8_generalisation', 'PSNR per held-out photo for each training recipe, beside BM3D, '
           'TV and the noisy input.')}

Gap to BM3D (dB; positive: the network wins):

{markdown_table(gap)}

The best recipe here, **{meta['best_recipe']}**, is {against_bm3d} BM3D's mean; its worst photo is
{worst_photo_words(best)}. {_optimism(meta, best)} {_targets(res, meta, best)}{_shipped_weights(gap)}{
_cross_validation(res, meta)}"""


def _targets(res: Results, meta: dict, best: pd.Series) -> str:
    """The targets of the results' profile, each judged on the best recipe's numbers (`best`: its
    row of the gap to BM3D), the one on the mean also on the third split's where the results have
    one; outside the full profile, that one's target, not run."""
    target = PROFILES[res.profile].target_over_bm3d_db
    split = meta.get("third_split")
    third = f"; on the third split, {target_verdict(split['gap'] - target)}" if split else ""
    worst = worst_photo(best)
    text = (f"The targets of the {res.profile} profile: the best recipe {bm3d_target_words(target)} on the mean, "
            f"{target_verdict(best['all'] - target)}{third}; no photo more than {TARGET_WORST_PHOTO_DB:g} dB "
            f"below it, {target_verdict(best[worst] + TARGET_WORST_PHOTO_DB)} ({worst}).")
    if res.profile != "full":
        full = PROFILES["full"].target_over_bm3d_db
        text += (f" The full profile's target ({bm3d_target_words(full)}) needs a GPU and has not been run "
                 "for this report.")
    return text


def _optimism(meta: dict, best: pd.Series) -> str:
    """Why the best recipe's margin is optimistic, and its held-out estimate where the results
    have one (the third split); results from before it was made point to the cross-validation
    of a recipe fixed in advance, if they have one."""
    split = meta.get("third_split")
    if not split:
        return (f"It is picked on these {_photo_count(best)} and scored on them (there is no\n"
                f"third split), so its margin over the other recipes is optimistic{_cv_pointer(meta)}.")
    return (f"It is picked on these {_photo_count(best)} and scored on them, so its margin over the other "
            f"recipes is optimistic. The cross-validation below gives a third split: {third_split_words(split)}. "
            "Those photos were the recipes' training photos above, but no score on them entered the choice.")


def _photo_count(row: pd.Series) -> str:
    """'3 photos': how many held-out photos a row of the gap table scores."""
    return count(len(photos_of(row)), "photo")


def _cv_pointer(meta: dict) -> str:
    """Where section 8 has a cross-validation, a clause pointing to it as the fairer estimate."""
    if not meta.get("cv_table"):
        return ""
    return ("; the cross-validation below, of a recipe fixed in advance (colour augmentation, no dead "
            "leaves) on every photo, is the fairer estimate for a photo never seen")


def worst_photo_words(row: pd.Series) -> str:
    """That photo and its value: 'flower (-0.30 dB)'."""
    photo = worst_photo(row)
    return f"{photo} ({row[photo]:+.2f} dB)"


def _shipped_weights(gap: pd.DataFrame) -> str:
    """A paragraph on the shipped weights' gap to BM3D (their rows of `gap`), or "" for none."""
    rows = gap[gap["method"].str.startswith("shipped weights")].set_index("method")
    if rows.empty:
        return ""
    lines = [f"{name}: {row['all']:+.2f} dB on the mean, worst photo {worst_photo_words(row)}"
             for name, row in rows.iterrows()]
    return ("\n\nThe shipped weights (the best recipe at a larger budget; see their model card), against "
            "BM3D on the same crops: " + "; ".join(lines) + ".")


def _cross_validation(res: Results, meta: dict) -> str:
    """Section 8's subsection on the leave-photos-out cross-validation, or "" if it was not run."""
    if not meta.get("cv_table"):
        return ""
    table = pd.DataFrame(meta["cv_table"])
    other_crops = _other_crops(meta, table)
    gap = pd.DataFrame(meta["cv_gap_to_bm3d"]).set_index("method")
    summary = "; ".join(f"{name}: {row['photo mean']:+.2f} dB on the photo mean, "
                        + (f"{row[TEST_MEAN]:+.2f} dB on the {TEST_MEAN}, " if TEST_MEAN in row else "")
                        + f"worst {worst_photo_words(row)}" for name, row in gap.iterrows())
    split = meta.get("third_split")
    recipe, means = "the default recipe", "PSNR per photo and the mean over photos:"
    if split:  # results from before the third split: a recipe fixed in advance, no photos marked
        chosen_on = {p: f"{p} (chosen on)" for p in split["selection_photos"]}
        table = table.rename(columns=chosen_on)
        recipe = f"the recipe chosen above, **{split['recipe']}**,"
        means = (f"PSNR per photo, the mean over photos and the {TEST_MEAN}, which leaves out fold 0's "
                 f"photos, marked *(chosen on)*: the recipe was chosen on them.")
    return f"""

### Leave-photos-out cross-validation

The ten photos are cut into {meta['cv_folds']} folds (fold 0 is the split above); in each, a
ResUNet is trained with {recipe} on the other photos (same budget as above) and scored on
{meta['cv_n_val_per_fold']:,} crops of the held-out photos, so that every photo is scored once by a
model that never saw it. {means}

{markdown_table(table)}{other_crops}

{res.figure('fig9_cross_validation', 'Leave-photos-out cross-validation: PSNR of every photo, '
            'from the fold that held it out.')}

Against BM3D (positive: the network wins): {summary}."""


def _other_crops(meta: dict, cv_table: pd.DataFrame) -> str:
    """Where the cross-validation scores fold 0's photos on another number of crops than the
    recipes' table, a sentence saying so, with BM3D's PSNR of each of those photos in both; else
    ""."""
    if meta["cv_n_val_per_fold"] == meta.get("n_val", meta["cv_n_val_per_fold"]) or BM3D not in set(cv_table["method"]):
        return ""
    first = pd.DataFrame(meta["table"]).set_index("method").loc[BM3D]
    cv = cv_table.set_index("method").loc[BM3D]
    both = [p for p in photos_of(first) if p in cv.index]
    if not both:
        return ""
    pairs = ", ".join(f"{p} {cv[p]:.2f} and {first[p]:.2f} dB" for p in both)
    return (f"\n\nFold 0's photos are scored here on {meta['cv_n_val_per_fold']:,} crops in all, where the first "
            f"table scored them on {meta['n_val']:,}, so their scores differ between the two tables ({BM3D} here "
            f"and there: {pairs}).")


def section_blind(res: Results) -> str:
    """Section 9 (notebook 07's blind_sigma.json): the blind gaussian weights against the
    sigma-25 weights and BM3D, sigma 0-50/255. Empty until the profile's results hold them, so
    reports rendered before keep their text."""
    meta = res.json("blind_sigma")
    if not meta:
        return ""
    summary = pd.DataFrame(meta["summary"]).rename(columns={"sigma_255": "sigma (/255)"})
    weights = meta["blind_weights"]
    trained = f"`{weights['name']}` was trained with Noise2Noise on {weights['n_train']:,} pairs{_crop_words(weights)}"
    return f"""## 9. Blind gaussian weights: any noise level

{trained} whose sigma is drawn per pair,
uniformly from 0 to 50/255 (both draws of a pair share it), {_loss_words(weights)}for {weights['epochs']} epochs:
{weights['train_seconds'] / 60:.0f} minutes on {weights['device']} (profile `{weights['profile']}`; see its model
card).{_init_words(weights)}{_why_crops(weights)} Mean PSNR (dB) on
{count(len(meta['photos']), 'held-out photo')} at scale {meta['scale']:g}, whole images ({made_by(meta)}); BM3D is
given the true sigma, or the one `n2n denoise --sigma auto` estimates:

{markdown_table(summary, ('g',) + ('.2f',) * (len(summary.columns) - 1))}

{res.figure('fig11_psnr_vs_sigma', 'PSNR against the noise level: blind weights (plain and with the test-time '
            'ensemble), sigma-25 weights and BM3D.')}

{meta['finding']}"""


def _crop_words(weights: dict) -> str:
    """' of 64x64 crops' for weights trained on crops larger than natural32's 32x32; else nothing."""
    side = weights.get("crop", 32)
    return f" of {side}x{side} crops" if side != 32 else ""


def _loss_words(weights: dict) -> str:
    """How the blind weights' loss reads in the report (results from before it was recorded: nothing)."""
    words = {"log_mse": "with the log-MSE loss (each pair counts by its PSNR, so every noise level counts alike), ",
             "mse": "with the MSE loss, "}
    return words.get(weights.get("loss"), "")


def _init_words(weights: dict) -> str:
    """How the blind weights' start reads: from scratch (nothing), or the run(s) they went on
    from. An `init` record describes the last earlier run; one made of several rounds also has
    `rounds`, `images_seen` and `all_train_seconds` (every round's), and `crop` when not 32."""
    init = weights.get("init")
    if not init:
        return ""
    rounds, side = init.get("rounds", 1), init.get("crop", 32)
    seen_before = images_before(weights)
    if rounds == 1:
        way = "the same way" if side == weights.get("crop", 32) else f"the same way but on {side}x{side} crops"
        return (f" That run started from earlier weights trained {way} for {init['epochs']} epochs on "
                f"{init['n_train']:,} other pairs ({init['train_seconds'] / 60:.0f} minutes, profile "
                f"`{init['profile']}`, commit `{init['git_commit']}`), {images_seen_words(weights)}.")
    return (f" That run started from earlier weights trained in {rounds} rounds on {side}x{side} crops "
            f"({seen_before:,} images, {init['all_train_seconds'] / 60:.0f} minutes; the last round "
            f"{init['epochs']} epochs on {init['n_train']:,} other pairs, profile `{init['profile']}`, commit "
            f"`{init['git_commit']}`), {images_seen_words(weights)}.")


def _why_crops(weights: dict) -> str:
    """Why the blind weights' last run trained on larger crops, when it did."""
    if weights.get("crop", 32) == 32:
        return ""
    return (" Crops larger than 32x32 matter to this network: it pools five times, so on a 32x32 crop its "
            "deepest layers work on one pixel, and the outer taps of their 3x3 kernels, which see only the "
            "zero padding there, never learn; on a whole photo those taps see real neighbours, as they do in "
            "training on larger crops.")
