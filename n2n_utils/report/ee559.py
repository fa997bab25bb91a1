"""The abstract and sections 1-6: the EE-559 report's own experiments, redone (the data, Table I,
training, the sweeps of Figures 2 and 3, the predictions of Figures 4 and 5, and Table II).
Each section reads the results of notebooks 00-04.
"""

from __future__ import annotations

import pandas as pd

from ..findings import change_verb, count
from ..runs import REPORT_BATCH_SIZE, REPORT_LR
from ..sweeps import NO_CI, best_value, diverged_values, diverged_words, mean_words, verdict
from ..weights import images_before, list_weights, read_weights
from .results import Results
from .words import (
    FOLDER_SOURCES,
    data_words,
    dead_leaves_share,
    held_out_words,
    images_seen_words,
    made_by,
    markdown_table,
    noise_words,
    not_run,
    seeds_note,
)

REPORT_PSNR_DB = 24.6  # Table II of the EE-559 report, on the course's data (not re-measurable here)
SWEEPS = ("lr_sweep", "batch_size_sweep")  # notebooks 02 and 03's results
COUNTS = {2: "two", 3: "three", 4: "four", 5: "five"}  # seeds, in words


def _reports_values_held(res: Results) -> str:
    """', each the best' where both of the report's values are their sweep's best, ', each the
    best or within the confidence intervals of the best' where both hold against it
    (sweeps.verdict), else '': a best value that the report's ties with is no better than it,
    and the abstract should not read so."""
    verdicts = []
    for name, chosen in zip(SWEEPS, (REPORT_LR, REPORT_BATCH_SIZE), strict=True):
        summary = res.csv(f"{name}_summary")
        if summary is None or chosen not in set(summary["value"]):
            return ""
        verdicts.append((chosen, verdict(summary, chosen)))
    if all(judged["best"] == chosen for chosen, judged in verdicts):  # said so, also where no CI can be given
        return ", each the best"
    return ", each the best or within the confidence intervals of the best" if all(
        judged["tied"] for _, judged in verdicts) else ""


def section_abstract(res: Results) -> str:
    """What the study did and found, in one paragraph: the main run, the sweeps' best values and
    the shipped weights; each part only where its results are there."""
    train, data = res.json("train_resunet"), res.json("data_summary")
    lr, bs = res.json("lr_sweep"), res.json("batch_size_sweep")
    text = ("We rebuild the EE-559 Noise2Noise study: the Table I ResUNet, trained on pairs of noisy "
            "32x32 RGB images with MSE and Adam, evaluated by the course's metric (the mean of per-image PSNR). ")
    if train and data:
        meta = train["data"]
        verb = change_verb(data["noisy_val_psnr"], train["val_psnr"])
        text += (f"On {data_words(meta)}, the network {verb} the held-out {held_out_words(meta)} from "
                 f"{data['noisy_val_psnr']:.2f} dB (noisy input) to {train['val_psnr']:.2f} dB after "
                 f"{count(train['config']['epochs'], 'epoch')} on {meta['n_train']:,} pairs ({res.profile} profile). ")
    if lr and bs:
        sweeps = "Seeded sweeps with 95% confidence intervals" if _sweep_seeds(res) > 1 else \
            "Sweeps of one seed (no confidence intervals)"
        text += (f"{sweeps} put the best learning rate at "
                 f"{lr['best']:g} and the best batch size at {bs['best']:g} for that budget "
                 f"(the report chose {REPORT_LR:g} and {REPORT_BATCH_SIZE}{_reports_values_held(res)}). ")
    for name in list_weights():
        weights = read_weights(name)
        card, augment = weights["card"], " + ".join(weights["config"]["augment"])
        noisy = card.get("val_psnr_noisy")  # None: exported without --val-psnr-noisy
        earlier = f" on from earlier weights, {images_seen_words(card)}," if images_before(card) else ""
        text += (f"Trained on {card['n_train']:,} pairs for {count(card['epochs'], 'epoch')}{earlier} with {augment} "
                 f"augmentation, the shipped weights `{name}` reach {card['val_psnr']:.2f} dB on validation "
                 f"crops with their own noise ({card['noise']}"
                 f"{'' if noisy is None else f'; noisy input {noisy:.2f} dB'}). ")
    text += (f"The report's {REPORT_PSNR_DB} dB was measured on the course's files, which cannot be "
             "fetched here; the same pipeline runs on those files with one command (see Reproducing).")
    return "## Abstract\n\n" + text


def section_data(res: Results) -> str:
    """Section 1 (notebook 00's data_summary.json): the dataset, its split by photo, its noise,
    and the noisy input's PSNR, the baseline."""
    heading = "## 1. Data"
    data = res.json("data_summary")
    if not data:
        return not_run(heading)
    meta = data["data"]
    if meta.get("name") in FOLDER_SOURCES:
        return f"{heading}\n\n{_data_of_a_folder(data)}"
    training = f"Training: {', '.join(meta['train_photos'])}." if meta.get("train_photos") else ""
    share = dead_leaves_share(meta)
    if share:  # deadleaves32, or natural32 with mix_deadleaves: no photo, or fewer, in training
        training += (f"{' ' if training else ''}This run, **{meta['name']}**, replaces {share} of the training pairs "
                     f"by synthetic dead leaves (n2n_utils.data.deadleaves), noised alike.")
    return f"""{heading}

**natural32** holds 32x32 RGB crops of the colour photographs that ship inside scikit-image and
scikit-learn, cut at {len(meta['scales'])} scales between 1/{1 / meta['scales'][0]:.0f} and
1/{1 / meta['scales'][-1]:.0f} of each photo so that a crop holds whole structures, as the
course's thumbnails do. The split is by photo. {training}
Validation (never cropped for training): {', '.join(meta['val_photos'])}. Each training crop
carries two independent noise draws (input and target); the clean crop is kept only for the
Noise2Clean comparison. This profile uses {meta['n_train']:,} training pairs and
{meta['n_val']:,} validation crops, with {noise_words(meta)}.

The noise level estimated from the pairs alone, std(noisy1 - noisy2) / sqrt(2), is
{data['estimated_sigma_255']:.1f}/255 (clipping at 0 and 255 narrows the differences, so this
underestimates the true sigma). The noisy validation input scores
**{data['noisy_val_psnr']:.2f} dB**: the baseline every method must beat.

{res.figure('fig0a_noisy_pairs', 'Noisy pairs (input, target) and the clean crop.')}

{res.figure('fig0b_noise_histogram', 'Histogram of noisy1 - noisy2 per channel.')}"""


def _data_of_a_folder(data: dict) -> str:
    """Section 1's text, below its heading, for a run on a folder: one's own photos, or the
    course's files."""
    meta = data["data"]
    if meta["name"] == "images":
        what = f"""**Your own photos**, the PNG, JPEG and TIFF files in `{meta['folder']}`, cut into 32x32 RGB crops
at {len(meta['scales'])} scales between 1/{1 / meta['scales'][0]:.0f} and 1/{1 / meta['scales'][-1]:.0f} of each photo,
as natural32's are. The split is by file. Training: {', '.join(meta['train_files'])}.
Validation (never cropped for training): {', '.join(meta['val_files'])}. Each training crop
carries two independent noise draws (input and target) of {noise_words(meta)}; the clean crop is
kept only for the Noise2Clean comparison."""
    else:
        what = f"""**The course's files**, `train_data.pkl` and `val_data.pkl` in `{meta['folder']}`: noisy pairs
for training, noisy and clean images for validation, with {noise_words(meta)}."""
    return f"""{what} This profile uses {meta['n_train']:,} training pairs and {meta['n_val']:,} validation images.

The noise level estimated from the pairs alone, std(noisy1 - noisy2) / sqrt(2), is
{data['estimated_sigma_255']:.1f}/255. The noisy validation input scores
**{data['noisy_val_psnr']:.2f} dB**: the baseline every method must beat."""


def section_model(res: Results) -> str:
    """Section 2 (notebook 01's table1_architecture.csv and train_resunet.json): Table I, made
    from the code, and the parameter count."""
    heading = "## 2. Model"
    table = res.csv("table1_architecture")
    train = res.json("train_resunet")
    if table is None or not train:
        return not_run(heading)
    table["output_shape"] = table["output_shape"].astype(str)
    return f"""{heading}

Table I of the report, generated from the code by running a 32x32 input through the network
(`n2n_utils.models.layer_table`). Each convolution is followed by a ReLU (the final one as an
option: this run uses `{train['config']['final_activation']}`); skip connections concatenate
each upsampled map with the pooled encoder map of the same size and, last, with the input.
Weights use He initialisation, as in the Noise2Noise paper. **{train['parameters']:,} parameters.**

{markdown_table(table, '.0f')}"""


def section_training(res: Results) -> str:
    """Section 3 (notebook 01's train_resunet.json): the recipe, the time it took, the curves and
    the PSNR per held-out photo."""
    heading = "## 3. Training"
    train = res.json("train_resunet")
    if not train:
        return not_run(heading)
    cfg = train["config"]
    per_photo = pd.DataFrame(train["per_photo"]).rename(
        columns={"group": "photo", "psnr": "ResUNet PSNR (dB)", "ci95": "95% CI", "noisy": "noisy PSNR (dB)"})
    return f"""{heading}

Noise2Noise as in the report: noisy input, noisy target, {cfg['loss'].upper()} loss, Adam with
learning rate {cfg['lr']:g}, mini-batches of {cfg['batch_size']}, dihedral augmentation (the 8
rotations and flips, applied identically to input and target), {count(cfg['epochs'], 'epoch')} on
{train['data']['n_train']:,} pairs, {train.get('precision', cfg['precision'])} autocast for training
and fp32 for evaluation. Training took {train['train_seconds'] / 60:.1f} minutes on {train['device']}
({made_by(train)}).{seeds_note(train, 'Every PSNR of this section is')}

{res.figure('fig1_training_curves', 'Training loss (against noisy targets) and validation PSNR '
           '(against clean images) per epoch.')}

Validation PSNR per held-out photo:

{markdown_table(per_photo[['photo', 'noisy PSNR (dB)', 'ResUNet PSNR (dB)', '95% CI', 'n']])}"""


def _sweep_seeds(res: Results) -> int | None:
    """How many seeds each point of the sweeps is the mean of: the fewest of the two sweeps'
    records (None where neither was run)."""
    records = [r for r in map(res.json, SWEEPS) if r]
    return min(len(r.get("seeds") or []) for r in records) if records else None


def _sweep_points_words(res: Results) -> str:
    """What a point of the sweeps is: the mean over their seeds with a CI, or one run without."""
    n = _sweep_seeds(res)
    if n is not None and n < 2:
        return ("Each point here is one run (one seed): no confidence interval can be given, so a gap between "
                "two values is not judged.")
    seeds = "its sweep's seeds" if n is None else f"{COUNTS.get(n, n)} seeds"
    return f"Each point here is the mean over {seeds} (initialisation and data order) with a 95% Student-t " \
           "confidence interval."


def section_sweeps(res: Results) -> str:
    """Section 4 (notebooks 02 and 03): the learning-rate and batch-size sweeps, each value's
    mean PSNR over seeds with its confidence interval, against the report's choice."""
    return "\n\n".join([
        "## 4. Hyperparameters (Figures 2 and 3)\n\nThe report tuned the learning rate and the "
        f"batch size by cross-validation and showed single curves. {_sweep_points_words(res)}",
        _sweep(res, "lr_sweep", "Learning rate (Figure 2)", "fig2_lr",
               f"Fig. 2: validation PSNR against the learning rate (batch {REPORT_BATCH_SIZE}).", REPORT_LR),
        _sweep(res, "batch_size_sweep", "Mini-batch size (Figure 3)", "fig3_batch_size",
               f"Fig. 3: validation PSNR against the mini-batch size (learning rate {REPORT_LR:g}, equal "
               "epochs: larger batches take fewer steps).", REPORT_BATCH_SIZE),
    ])


def _sweep(res: Results, name: str, title: str, figure: str, caption: str, report_value: float) -> str:
    """One sweep's subsection from NAME.json and NAME_summary.csv (sweeps.summarize): the best
    value, the report's value against it, the values whose runs diverged, figure and table."""
    heading = f"### {title}"
    meta, summary = res.json(name), res.csv(f"{name}_summary")
    if not meta or summary is None:
        return not_run(heading)
    best = summary[summary["value"] == best_value(summary)].iloc[0]
    at_report = summary[summary["value"] == report_value]
    remarks = ""  # the report's value against the best, and the values whose runs diverged
    if len(at_report):  # a grid with the report's value
        judged, row = verdict(summary, report_value), next(at_report.itertuples())
        others = "no mean" if pd.isna(row.psnr_mean) else f"the others score {row.psnr_mean:.2f} dB"
        tied = {True: ", within the confidence intervals.", False: ", outside the confidence intervals.",
                None: "; one run gives no confidence interval to judge the gap by."}[judged["tied"]]
        if judged["diverged"]:
            remarks = (f" The report's choice, {report_value:g}, diverged in {row.n_diverged} of {row.n_runs} runs "
                       f"({others}).")
        elif judged["best"] == report_value:
            remarks = f" The report's choice, {report_value:g}, is the best."
        else:
            remarks = (f" The report's choice, {report_value:g}, scores {row.psnr_mean:.2f} dB, {judged['gap']:.2f} dB "
                       f"below the best{tied}")
    base = meta["base_config"]
    diverged = diverged_values(summary)
    if len(diverged):
        remarks += (f" Diverged: {diverged_words(diverged)}; a mean is of the runs that finished, and a value with "
                    f"a run that diverged is never the best.")
    columns = {"value": (meta["param"], "g"), "psnr_mean": ("PSNR mean (dB)", ".2f"),
               "psnr_ci95": ("95% CI (dB)", ".2f"), "n_runs": ("runs", ".0f"),
               "n_diverged": ("diverged", ".0f"), "seconds_mean": ("seconds per run", ".1f")}
    kept = [c for c in columns if c in summary and (c != "n_diverged" or len(diverged))]
    shown = summary[kept].assign(psnr_ci95=[  # a mean of one run has no CI: NO_CI, not a blank or 0.00
        NO_CI if pd.notna(mean) and pd.isna(half) else None if pd.isna(half) else f"{half:.2f}"
        for mean, half in zip(summary["psnr_mean"], summary["psnr_ci95"], strict=True)])
    shown = shown.rename(columns={c: columns[c][0] for c in kept})
    return f"""{heading}

{int(summary['n_runs'].sum())} runs: {meta['data']['n_train']:,} pairs, {count(base['epochs'], 'epoch')} each, seeds
{', '.join(map(str, meta['seeds']))}, evaluated on the {meta['data']['n_val']:,} held-out validation
crops ({made_by(meta)}). Best: **{best['value']:g}** at {mean_words(best['psnr_mean'], best['psnr_ci95'])}.{remarks}

{res.figure(figure, caption)}

{markdown_table(shown, tuple(columns[c][1] for c in kept))}"""


def section_predictions(res: Results) -> str:
    """Section 5 (notebook 04's predictions.json): the prediction figures and the range of
    per-image gains (dB)."""
    heading = "## 5. Predictions (Figures 4 and 5)"
    predictions = res.json("predictions")
    if not predictions:
        return not_run(heading)
    return f"""{heading}

The report showed one prediction and its ground truth apart. Here the noisy input, the prediction
and the ground truth stand side by side for validation images drawn by a seed (Figure 4), and for
the images where denoising gained most and least (Figure 5). Per-image gains range from
{predictions['gain_min']:.1f} to {predictions['gain_max']:.1f} dB (median {predictions['gain_median']:.1f} dB).

{res.figure('fig4_predictions', 'Fig. 4: noisy input, prediction, ground truth (PSNR noisy -> denoised).')}

{res.figure('fig5_best_worst', 'Fig. 5: the largest (top) and smallest (bottom) gains.')}"""


def section_table2(results: list[Results]) -> str:
    """Section 6: Table II, the report's PSNR beside each profile's main run and each shipped
    weights' own validation, every row with its data and noise."""
    rows = [{"model": "ResUNet (EE-559 report)", "data": "course's files (EE-559)",
             "profile": "-", "noisy input (dB)": None, "PSNR (dB)": REPORT_PSNR_DB}]
    for res in results:
        train, data = res.json("train_resunet"), res.json("data_summary")
        if train and data:
            rows.append({"model": "ResUNet (this study)",
                         "data": f"{data_words(train['data'], 'cell')}, {train['data']['n_train']:,} pairs",
                         "profile": res.profile, "noisy input (dB)": data["noisy_val_psnr"],
                         "PSNR (dB)": train["val_psnr"]})
    for name in list_weights():
        card = read_weights(name)["card"]
        data = {"name": card["data"], "noise": card["noise"], "noise_params": card["noise_params"]}
        rows.append({"model": f"ResUNet, shipped weights `{name}`",
                     "data": f"{data_words(data, 'cell')}, {card['n_train']:,} pairs x "
                             f"{count(card['epochs'], 'epoch')}",
                     "profile": card["profile"], "noisy input (dB)": card.get("val_psnr_noisy"),
                     "PSNR (dB)": card["val_psnr"]})
    return f"""## 6. Table II: PSNR

{markdown_table(pd.DataFrame(rows))}

The rows measure different data: the report's {REPORT_PSNR_DB} dB is on the course's own validation set,
whose noise law is not published; ours are on natural32's held-out photos. The numbers are not
comparable to each other, only each to its own noisy input. With the course's files, the
reproduction is one command (below)."""
