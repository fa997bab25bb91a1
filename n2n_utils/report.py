"""Render report/report.md from results/ — every number and table in the report comes from here.

    python -m n2n_utils.report            # write report/report.md
    python -m n2n_utils.report --check    # exit 1 if the committed report differs from results/

The prose around the numbers is fixed; the numbers, tables and the sentences that depend on
them (which setting won, whether a target was met) are computed from the results files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from . import config
from .comparisons import N2C, N2N, NOISY_INPUT
from .config import describe_cpu
from .files import write_atomic
from .generalisation import BM3D, REPORT_RECIPE
from .profiles import PROFILES
from .runs import REPORT_BATCH_SIZE, REPORT_LR
from .sweeps import NO_CI, best_value, diverged_values, diverged_words, mean_words, verdict
from .weights import images_before, images_seen, list_weights, read_weights

REPORT_PATH = config.REPORT_DIR / "report.md"
REPORT_PSNR_DB = 24.6  # Table II of the EE-559 report, on the course's data (not re-measurable here)


class ResultsFileError(ValueError):
    """A results file that is there but cannot be read. The message is one line naming it."""


class _Record(dict):
    """A results file's JSON object (and each object inside it): a key it lacks raises
    ResultsFileError naming the file, the mark of a record written by another version of the
    study, where a KeyError would show a traceback. `.get` still answers None."""

    def __init__(self, items: dict, path: Path):
        super().__init__(items)
        self.path = path

    def __missing__(self, key: str):
        raise ResultsFileError(f"{self.path}: no {key!r}, which this version of the report reads (written by "
                               "another version of the study?); rerun the notebook that writes it")


class Results:
    """The results files of one profile; missing files read as None, damaged ones raise
    ResultsFileError."""

    def __init__(self, profile: str, results_root: Path = config.RESULTS_DIR,
                 figures_root: Path = config.FIGURES_DIR):
        self.profile = profile
        self.dir = Path(results_root) / profile
        self.figures = Path(figures_root) / profile

    def json(self, name: str) -> dict | None:
        path = self.dir / f"{name}.json"
        if not path.exists():
            return None
        record = _parse(path, lambda p: json.loads(p.read_text(), object_hook=lambda items: _Record(items, p)),
                        "JSON")
        if not isinstance(record, dict):
            raise ResultsFileError(f"{path}: not a results record (a JSON {type(record).__name__}, not an object)")
        return record

    def csv(self, name: str) -> pd.DataFrame | None:
        path = self.dir / f"{name}.csv"
        return _parse(path, pd.read_csv, "a table") if path.exists() else None

    def figure(self, stem: str, caption: str) -> str:
        path = self.figures / f"{stem}.png"
        if not path.exists():
            return f"*({stem}: not produced in the {self.profile} profile yet)*"
        rel = os.path.relpath(path, config.REPORT_DIR)
        return f"![{caption}]({rel})\n\n*{caption}*"

    @property
    def exists(self) -> bool:
        return self.json("train_resunet") is not None


def _parse(path: Path, parse, kind: str):
    """`parse(path)`, or a ResultsFileError naming the file: one that cannot be read (a folder
    under its name, no permission) or is damaged (not `kind`: cut JSON, an empty CSV, not UTF-8)."""
    try:
        return parse(path)
    except OSError as err:
        raise ResultsFileError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, pandas' EmptyDataError and ParserError
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ResultsFileError(f"{path}: damaged, not {kind} ({first_line}); rerun the notebook that writes it") \
            from None


def _table(frame: pd.DataFrame, floatfmt: str | tuple[str, ...] = ".2f") -> str:
    frame = frame.astype(object).where(frame.notna(), None)  # blanks, not "nan"
    return frame.to_markdown(index=False, floatfmt=floatfmt, missingval="")


def _made_by(r: dict) -> str:
    return (f"profile `{r['profile']}`, {r.get('device', 'device not recorded')}, "
            f"commit `{r['git_commit']}`, {r['created'][:10]}")


def _seeds_note(r: dict, what: str) -> str:
    """A sentence saying that `what` are means over the record's seeds, or, for one seed (records
    written before the profiles had n_seeds hold none), what its CIs are across instead."""
    seeds = r.get("seeds") or []
    if len(seeds) < 2:
        return (f" {what} from one trained network (one seed): its 95% confidence intervals are across the "
                "validation crops, and leave out the spread between training runs.")
    return (f" {what} the mean of {len(seeds)} training seeds ({', '.join(map(str, seeds))}: initialisation "
            "and data order), with a 95% confidence interval across seeds.")


def _params_words(meta: dict) -> str:
    """A noise's parameters in words, sigmas in grey levels: 'sigma 25/255', 'lam 30'."""
    return ", ".join(f"{k} {v * 255:g}/255" if "sigma" in k else f"{k} {v:g}"
                     for k, v in (meta.get("noise_params") or {}).items())


def _noise_words(meta: dict) -> str:
    """The noise of a run's data in words: 'gaussian noise (sigma 25/255)', 'poisson noise
    (lam 30)', or the course's own."""
    if meta.get("name") == "course":
        return "the course's own noise (fixed, unknown law)"
    return f"{meta['noise']} noise ({_params_words(meta)})"


def _dead_leaves_words(meta: dict) -> str:
    """How much of natural32's training a run gave to dead leaves: '' for none, 'all' (the
    deadleaves32 dataset) or a percentage (natural32 with mix_deadleaves)."""
    share = meta.get("mix_deadleaves") or 0
    return "" if not share else "all" if share == 1 else f"{share:.0%}"


def _data_words(meta: dict) -> str:
    """What a run's data were, for a sentence: natural32 (with dead leaves in training, if so),
    a folder of photos or the course's files."""
    if meta.get("name") == "images":
        return f"the photos in `{meta['folder']}`"
    if meta.get("name") == "course":
        return f"the course's files in `{meta['folder']}`"
    share = _dead_leaves_words(meta)
    if share:
        return (f"{meta['name']} ({share} of the training pairs synthetic dead leaves, validated on natural32's "
                f"held-out photos)")
    return "natural32, our embedded stand-in for the course's data"


# --------------------------------------------------------------------------- sections


def section_abstract(res: Results) -> str:
    train, data = res.json("train_resunet"), res.json("data_summary")
    lr, bs = res.json("lr_sweep"), res.json("batch_size_sweep")
    text = ("We rebuild the EE-559 Noise2Noise study: the Table I ResUNet, trained on pairs of noisy "
            "32x32 RGB images with MSE and Adam, evaluated by the course's metric (the mean of per-image PSNR). ")
    if train and data:
        meta = train["data"]
        held_out = "images" if meta.get("name") == "course" else "photos"
        text += (f"On {_data_words(meta)}, with {_noise_words(meta)}, the network lifts the held-out {held_out} from "
                 f"{data['noisy_val_psnr']:.2f} dB (noisy input) to {train['val_psnr']:.2f} dB after "
                 f"{train['config']['epochs']} epochs on {train['data']['n_train']:,} pairs "
                 f"({res.profile} profile). ")
    if lr and bs:
        text += (f"Seeded sweeps with 95% confidence intervals put the best learning rate at "
                 f"{lr['best']:g} and the best batch size at {bs['best']:g} for that budget "
                 f"(the report chose {REPORT_LR:g} and {REPORT_BATCH_SIZE}). ")
    for name in list_weights():
        weights = read_weights(name)
        card, augment = weights["card"], " + ".join(weights["config"]["augment"])
        text += (f"Trained on {card['n_train']:,} pairs for {card['epochs']} epochs with {augment} "
                 f"augmentation, the shipped weights `{name}` reach {card['val_psnr']:.2f} dB on validation "
                 f"crops with their own noise ({card['noise']}; noisy input {card['val_psnr_noisy']:.2f} dB). ")
    text += (f"The report's {REPORT_PSNR_DB} dB was measured on the course's files, which cannot be "
             "fetched here; the same pipeline runs on those files with one command (see Reproducing).")
    return "## Abstract\n\n" + text


def section_data(res: Results) -> str:
    data = res.json("data_summary")
    if not data:
        return "## 1. Data\n\n*(not run yet)*"
    meta = data["data"]
    if meta.get("name") in ("images", "course"):
        return _data_section_of_a_folder(data)
    training = f"Training: {', '.join(meta['train_photos'])}." if meta.get("train_photos") else ""
    share = _dead_leaves_words(meta)
    if share:  # deadleaves32, or natural32 with mix_deadleaves: no photo, or fewer, in training
        training += (f"{' ' if training else ''}This run, **{meta['name']}**, replaces {share} of the training pairs "
                     f"by synthetic dead leaves (n2n_utils.data.deadleaves), noised alike.")
    return f"""## 1. Data

**natural32** holds 32x32 RGB crops of the colour photographs that ship inside scikit-image and
scikit-learn, cut at {len(meta['scales'])} scales between 1/{1 / meta['scales'][0]:.0f} and
1/{1 / meta['scales'][-1]:.0f} of each photo so that a crop holds whole structures, as the
course's thumbnails do. The split is by photo. {training}
Validation (never cropped for training): {', '.join(meta['val_photos'])}. Each training crop
carries two independent noise draws (input and target); the clean crop is kept only for the
Noise2Clean comparison. This profile uses {meta['n_train']:,} training pairs and
{meta['n_val']:,} validation crops; the noise is {meta['noise']} with
{', '.join(f'{k} = {v:.4g}' for k, v in meta['noise_params'].items())}.

The noise level estimated from the pairs alone, std(noisy1 - noisy2) / sqrt(2), is
{data['estimated_sigma_255']:.1f}/255 (clipping at 0 and 255 narrows the differences, so this
underestimates the true sigma). The noisy validation input scores
**{data['noisy_val_psnr']:.2f} dB**: the baseline every method must beat.

{res.figure('fig0a_noisy_pairs', 'Noisy pairs (input, target) and the clean crop.')}

{res.figure('fig0b_noise_histogram', 'Histogram of noisy1 - noisy2 per channel.')}"""


def _data_section_of_a_folder(data: dict) -> str:
    """Section 1 for a run on a folder: one's own photos, or the course's files."""
    meta = data["data"]
    if meta["name"] == "images":
        what = f"""**Your own photos**, the PNG, JPEG and TIFF files in `{meta['folder']}`, cut into 32x32 RGB crops
at {len(meta['scales'])} scales between 1/{1 / meta['scales'][0]:.0f} and 1/{1 / meta['scales'][-1]:.0f} of each photo,
as natural32's are. The split is by file. Training: {', '.join(meta['train_files'])}.
Validation (never cropped for training): {', '.join(meta['val_files'])}. Each training crop
carries two independent noise draws (input and target) of {_noise_words(meta)}; the clean crop is
kept only for the Noise2Clean comparison."""
    else:
        what = f"""**The course's files**, `train_data.pkl` and `val_data.pkl` in `{meta['folder']}`: noisy pairs
for training, noisy and clean images for validation, with {_noise_words(meta)}."""
    return f"""## 1. Data

{what} This profile uses {meta['n_train']:,} training pairs and {meta['n_val']:,} validation images.

The noise level estimated from the pairs alone, std(noisy1 - noisy2) / sqrt(2), is
{data['estimated_sigma_255']:.1f}/255. The noisy validation input scores
**{data['noisy_val_psnr']:.2f} dB**: the baseline every method must beat."""


def section_model(res: Results) -> str:
    table = res.csv("table1_architecture")
    train = res.json("train_resunet")
    if table is None or not train:
        return "## 2. Model\n\n*(not run yet)*"
    table["output_shape"] = table["output_shape"].astype(str)
    return f"""## 2. Model

Table I of the report, generated from the code by running a 32x32 input through the network
(`n2n_utils.models.layer_table`). Each convolution is followed by a ReLU (the final one as an
option: this run uses `{train['config']['final_activation']}`); skip connections concatenate
each upsampled map with the pooled encoder map of the same size and, last, with the input.
Weights use He initialisation, as in the Noise2Noise paper. **{train['parameters']:,} parameters.**

{_table(table, '.0f')}"""


def section_training(res: Results) -> str:
    train = res.json("train_resunet")
    if not train:
        return "## 3. Training\n\n*(not run yet)*"
    c = train["config"]
    per_photo = pd.DataFrame(train["per_photo"]).rename(
        columns={"group": "photo", "psnr": "ResUNet PSNR (dB)", "ci95": "95% CI", "noisy": "noisy PSNR (dB)"})
    return f"""## 3. Training

Noise2Noise as in the report: noisy input, noisy target, {c['loss'].upper()} loss, Adam with
learning rate {c['lr']:g}, mini-batches of {c['batch_size']}, dihedral augmentation (the 8
rotations and flips, applied identically to input and target), {c['epochs']} epochs on
{train['data']['n_train']:,} pairs, {train.get('precision', c['precision'])} autocast for training
and fp32 for evaluation. Training took {train['train_seconds'] / 60:.1f} minutes on {train['device']}
({_made_by(train)}).{_seeds_note(train, 'Every PSNR of this section is')}

{res.figure('fig1_training_curves', 'Training loss (against noisy targets) and validation PSNR '
           '(against clean images) per epoch.')}

Validation PSNR per held-out photo:

{_table(per_photo[['photo', 'noisy PSNR (dB)', 'ResUNet PSNR (dB)', '95% CI', 'n']])}"""


def _sweep(res: Results, name: str, title: str, figure: str, caption: str, report_value: float) -> str:
    meta, summary = res.json(name), res.csv(f"{name}_summary")
    if not meta or summary is None:
        return f"### {title}\n\n*(not run yet)*"
    best = summary[summary["value"] == best_value(summary)].iloc[0]
    at_report = summary[summary["value"] == report_value]
    gap = ""
    if len(at_report):  # a grid with the report's value
        v, row = verdict(summary, report_value), next(at_report.itertuples())
        others = "no mean" if pd.isna(row.psnr_mean) else f"the others score {row.psnr_mean:.2f} dB"
        judged = {True: ", within the confidence intervals.", False: ", outside the confidence intervals.",
                  None: "; one run gives no confidence interval to judge the gap by."}[v["tied"]]
        if v["diverged"]:
            gap = (f" The report's choice, {report_value:g}, diverged in {row.n_diverged} of {row.n_runs} runs "
                   f"({others}).")
        elif v["best"] == report_value:
            gap = f" The report's choice, {report_value:g}, is the best."
        else:
            gap = (f" The report's choice, {report_value:g}, scores {row.psnr_mean:.2f} dB, {v['gap']:.2f} dB below "
                   f"the best{judged}")
    b = meta["base_config"]
    diverged = diverged_values(summary)
    if len(diverged):
        gap += (f" Diverged: {diverged_words(diverged)}; a mean is of the runs that finished, and a value with "
                f"a run that diverged is never the best.")
    columns = {"value": (meta["param"], "g"), "psnr_mean": ("PSNR mean (dB)", ".2f"),
               "psnr_ci95": ("95% CI (dB)", ".2f"), "n_runs": ("runs", ".0f"),
               "n_diverged": ("diverged", ".0f"), "seconds_mean": ("seconds per run", ".1f")}
    kept = [c for c in columns if c in summary and (c != "n_diverged" or len(diverged))]
    shown = summary[kept].assign(psnr_ci95=[  # a mean of one run has no CI: NO_CI, not a blank or 0.00
        NO_CI if pd.notna(mean) and pd.isna(half) else None if pd.isna(half) else f"{half:.2f}"
        for mean, half in zip(summary["psnr_mean"], summary["psnr_ci95"], strict=True)])
    shown = shown.rename(columns={c: columns[c][0] for c in kept})
    return f"""### {title}

{int(summary['n_runs'].sum())} runs: {meta['data']['n_train']:,} pairs, {b['epochs']} epochs each, seeds
{', '.join(map(str, meta['seeds']))}, evaluated on the {meta['data']['n_val']:,} held-out validation
crops ({_made_by(meta)}). Best: **{best['value']:g}** at {mean_words(best['psnr_mean'], best['psnr_ci95'])}.{gap}

{res.figure(figure, caption)}

{_table(shown, tuple(columns[c][1] for c in kept))}"""


def section_sweeps(res: Results) -> str:
    return "\n\n".join([
        "## 4. Hyperparameters (Figures 2 and 3)\n\nThe report tuned the learning rate and the "
        "batch size by cross-validation and showed single curves. Each point here is the mean "
        "over three seeds (initialisation and data order) with a 95% Student-t confidence interval.",
        _sweep(res, "lr_sweep", "Learning rate (Figure 2)", "fig2_lr",
               f"Fig. 2: validation PSNR against the learning rate (batch {REPORT_BATCH_SIZE}).", REPORT_LR),
        _sweep(res, "batch_size_sweep", "Mini-batch size (Figure 3)", "fig3_batch_size",
               f"Fig. 3: validation PSNR against the mini-batch size (learning rate {REPORT_LR:g}, equal "
               "epochs: larger batches take fewer steps).", REPORT_BATCH_SIZE),
    ])


def section_predictions(res: Results) -> str:
    p = res.json("predictions")
    if not p:
        return "## 5. Predictions (Figures 4 and 5)\n\n*(not run yet)*"
    return f"""## 5. Predictions (Figures 4 and 5)

The report showed one prediction and its ground truth apart. Here the noisy input, the prediction
and the ground truth stand side by side for validation images drawn by a seed (Figure 4), and for
the images where denoising gained most and least (Figure 5). Per-image gains range from
{p['gain_min']:.1f} to {p['gain_max']:.1f} dB (median {p['gain_median']:.1f} dB).

{res.figure('fig4_predictions', 'Fig. 4: noisy input, prediction, ground truth (PSNR noisy -> denoised).')}

{res.figure('fig5_best_worst', 'Fig. 5: the largest (top) and smallest (bottom) gains.')}"""


def _table_data_words(meta: dict) -> str:
    """A run's data in a table cell: 'natural32, gaussian 25/255', or its folder and noise."""
    if meta.get("name") == "course":
        return f"course's files in `{meta['folder']}`"
    where = f"photos in `{meta['folder']}`" if meta.get("name") == "images" else meta.get("name", "natural32")
    if meta["noise"] == "gaussian":
        return f"{where}, gaussian {meta['noise_params']['sigma'] * 255:g}/255"
    return f"{where}, {meta['noise']} ({_params_words(meta)})"


def section_table2(results: list[Results]) -> str:
    rows = [{"model": "ResUNet (EE-559 report)", "data": "course's files (EE-559)",
             "profile": "-", "noisy input (dB)": None, "PSNR (dB)": REPORT_PSNR_DB}]
    for res in results:
        train, data = res.json("train_resunet"), res.json("data_summary")
        if train and data:
            rows.append({"model": "ResUNet (this study)",
                         "data": f"{_table_data_words(train['data'])}, {train['data']['n_train']:,} pairs",
                         "profile": res.profile, "noisy input (dB)": data["noisy_val_psnr"],
                         "PSNR (dB)": train["val_psnr"]})
    for name in list_weights():
        card = read_weights(name)["card"]
        rows.append({"model": f"ResUNet, shipped weights `{name}`",
                     "data": f"natural32, {card['noise']}, {card['n_train']:,} pairs x {card['epochs']} epochs",
                     "profile": card["profile"], "noisy input (dB)": card.get("val_psnr_noisy"),
                     "PSNR (dB)": card["val_psnr"]})
    return f"""## 6. Table II: PSNR

{_table(pd.DataFrame(rows))}

The rows measure different data: the report's 24.6 dB is on the course's own validation set,
whose noise law is not published; ours are on natural32's held-out photos. The numbers are not
comparable to each other, only each to its own noisy input. With the course's files, the
reproduction is one command (below)."""


def section_comparisons(res: Results) -> str:
    table, meta = res.csv("comparisons"), res.json("comparisons")
    if table is None or not meta:
        return "## 7. Noise2Noise against clean targets and classical denoisers\n\n*(not run yet)*"
    h = meta["headline"]
    psnr = table.pivot(index="method", columns="noise", values="psnr").reindex(list(dict.fromkeys(table["method"])))
    psnr = psnr[list(dict.fromkeys(table["noise"]))].reset_index()
    gaussian = table[table["noise"] == "gaussian"][["method", "psnr", "psnr_ci95", "ssim", "seconds", "params"]]
    gap_n2c = h["n2c"] - h["n2n"]
    gap_classical = h["n2n"] - h["best_classical_psnr"]
    ablation, curve = res.csv("augmentation_ablation"), res.csv("learning_curve")
    parts = [f"""## 7. Noise2Noise against clean targets and classical denoisers

Every method on the same {meta['n_val']} held-out validation crops per noise model. The two
ResUNets get the same budget ({meta['n_train']:,} pairs, {meta['base_config']['epochs']} epochs,
batch {meta['base_config']['batch_size']}), each with the loss that suits the noise (L2 for
gaussian and poisson, L1 for impulse and text) and the augmentations that keep its law; the
classical methods are tuned on {meta['n_tune']} *training* crops ({_made_by(meta)}).{_seeds_note(
    meta, 'Each ResUNet row (and the ablation and learning curve below) is')}

**Headline, gaussian sigma 25/255:** noisy {h['noisy']:.2f} dB, best classical
({h['best_classical']}) {h['best_classical_psnr']:.2f} dB, Noise2Noise {h['n2n']:.2f} dB,
Noise2Clean {h['n2c']:.2f} dB. Noise2Noise is {abs(gap_n2c):.2f} dB
{'below' if gap_n2c > 0 else 'above'} Noise2Clean and {abs(gap_classical):.2f} dB
{'above' if gap_classical >= 0 else 'below'} {h['best_classical']} at this budget.

PSNR (dB) per method and noise model:

{_table(psnr)}

{res.figure('fig6_comparisons', 'PSNR per noise model and method (95% CI).')}

Gaussian noise in detail (seconds: wall time to denoise the validation crops on the CPU):

{_table(gaussian, ('g', '.2f', '.2f', '.3f', '.2f', 'g'))}"""]
    if ablation is not None:
        parts.append("Augmentation (gaussian, same budget):\n\n"
                     + _table(ablation[["augmentation", "psnr", "psnr_ci95", "ssim"]], ("g", ".2f", ".2f", ".3f")))
    if curve is not None:
        parts.append(res.figure("fig7_learning_curve", "PSNR against the number of training pairs, "
                                "at an equal number of optimizer steps."))
        parts.append(_table(curve[["n_train", "target", "epochs", "psnr", "psnr_ci95"]],
                            ("g", "g", "g", ".2f", ".2f")))
    return "\n\n".join(parts)


def section_generalisation(res: Results) -> str:
    meta = res.json("generalisation")
    if not meta:
        return "## 8. Generalisation to unseen photos\n\n*(not run yet)*"
    table = pd.DataFrame(meta["table"])
    gap = pd.DataFrame(meta["gap_to_bm3d"])
    best = gap.set_index("method").loc[meta["best_recipe"]]
    photos = [c for c in gap.columns if c not in ("method", "all")]
    worst_photo = min(photos, key=lambda p: best[p])
    verdict = ("at or above" if best["all"] >= 0 else f"{-best['all']:.2f} dB below")
    return f"""## 8. Generalisation to unseen photos

Each recipe of training content and augmentation trains one Noise2Noise ResUNet at the same
budget ({meta['n_train']:,} pairs, {meta['base_config']['epochs']} epochs); all are scored per
held-out photo beside BM3D and TV on the same crops ({_made_by(meta)}).{_seeds_note(
    meta, 'Each network row, here and in the cross-validation, is')}

{_table(table)}

{res.figure('fig8_generalisation', 'PSNR per held-out photo for each training recipe, beside BM3D, '
           'TV and the noisy input.')}

Gap to BM3D (dB; positive: the network wins):

{_table(gap)}

The best recipe here, **{meta['best_recipe']}**, is {verdict} BM3D's mean; its worst photo is
{worst_photo} ({best[worst_photo]:+.2f} dB). The targets (at or above BM3D in the quick profile,
+0.5 dB in the full profile, no photo more than 0.5 dB below) are judged on these numbers; the
full profile needs a GPU and has not been run for this report.{_shipped_weights(gap)}{_cross_validation(res, meta)}"""


def section_blind(res: Results) -> str:
    """The blind gaussian weights against the sigma-25 weights and BM3D (notebook 07). Empty until
    the profile's results hold them, so reports rendered before keep their text."""
    meta = res.json("blind_sigma")
    if not meta:
        return ""
    summary = pd.DataFrame(meta["summary"]).rename(columns={"sigma_255": "sigma (/255)"})
    w = meta["blind_weights"]
    return f"""## 9. Blind gaussian weights: any noise level

`{w['name']}` was trained with Noise2Noise on {w['n_train']:,} pairs{_crop_words(w)} whose sigma is drawn per pair,
uniformly from 0 to 50/255 (both draws of a pair share it), {_loss_words(w)}for {w['epochs']} epochs:
{w['train_seconds'] / 60:.0f} minutes on {w['device']} (profile `{w['profile']}`; see its model
card).{_init_words(w)}{_why_crops(w)} Mean PSNR (dB) on
{len(meta['photos'])} held-out photo(s) at scale {meta['scale']:g}, whole images ({_made_by(meta)}); BM3D is
given the true sigma, or the one `n2n denoise --sigma auto` estimates:

{_table(summary, ('g',) + ('.2f',) * (len(summary.columns) - 1))}

{res.figure('fig11_psnr_vs_sigma', 'PSNR against the noise level: blind weights (plain and with the test-time '
            'ensemble), sigma-25 weights and BM3D.')}

{meta['finding']}"""


def _init_words(weights: dict) -> str:
    """How the blind weights' start reads: from scratch (nothing), or the run(s) they went on
    from. An `init` record describes the last earlier run; one made of several rounds also has
    `rounds`, `images_seen` and `all_train_seconds` (every round's), and `crop` when not 32."""
    init = weights.get("init")
    if not init:
        return ""
    rounds, side = init.get("rounds", 1), init.get("crop", 32)
    seen_before, total = images_before(weights), images_seen(weights)
    if rounds == 1:
        way = "the same way" if side == weights.get("crop", 32) else f"the same way but on {side}x{side} crops"
        return (f" That run started from earlier weights trained {way} for {init['epochs']} epochs on "
                f"{init['n_train']:,} other pairs ({init['train_seconds'] / 60:.0f} minutes, profile "
                f"`{init['profile']}`, commit `{init['git_commit']}`), so the network saw {total:,} images in all.")
    return (f" That run started from earlier weights trained in {rounds} rounds on {side}x{side} crops "
            f"({seen_before:,} images, {init['all_train_seconds'] / 60:.0f} minutes; the last round "
            f"{init['epochs']} epochs on {init['n_train']:,} other pairs, profile `{init['profile']}`, commit "
            f"`{init['git_commit']}`), so the network saw {total:,} images in all.")


def _crop_words(weights: dict) -> str:
    """' of 64x64 crops' for weights trained on crops larger than natural32's 32x32; else nothing."""
    side = weights.get("crop", 32)
    return f" of {side}x{side} crops" if side != 32 else ""


def _why_crops(weights: dict) -> str:
    """Why the blind weights' last run trained on larger crops, when it did."""
    if weights.get("crop", 32) == 32:
        return ""
    return (" Crops larger than 32x32 matter to this network: it pools five times, so on a 32x32 crop its "
            "deepest layers work on one pixel, and the outer taps of their 3x3 kernels, which see only the "
            "zero padding there, never learn; on a whole photo those taps see real neighbours, as they do in "
            "training on larger crops.")


def _loss_words(weights: dict) -> str:
    """How the blind weights' loss reads in the report (results from before it was recorded: nothing)."""
    words = {"log_mse": "with the log-MSE loss (each pair counts by its PSNR, so every noise level counts alike), ",
             "mse": "with the MSE loss, "}
    return words.get(weights.get("loss"), "")


def _shipped_weights(gap: pd.DataFrame) -> str:
    rows = gap[gap["method"].str.startswith("shipped weights")].set_index("method")
    if rows.empty:
        return ""
    photos = [c for c in rows.columns if c != "all"]
    lines = [f"{name}: {row['all']:+.2f} dB on the mean, worst photo {min(photos, key=lambda p: row[p])} "
             f"({min(row[p] for p in photos):+.2f} dB)" for name, row in rows.iterrows()]
    return ("\n\nThe shipped weights (the best recipe at a larger budget; see their model card), against "
            "BM3D on the same crops: " + "; ".join(lines) + ".")


def _cross_validation(res: Results, meta: dict) -> str:
    if not meta.get("cv_table"):
        return ""
    table = pd.DataFrame(meta["cv_table"])
    gap = pd.DataFrame(meta["cv_gap_to_bm3d"]).set_index("method")
    photos = [c for c in gap.columns if c != "photo mean"]
    summary = "; ".join(f"{name}: {row['photo mean']:+.2f} dB on the photo mean, worst "
                        f"{min(photos, key=lambda p: row[p])} ({min(row[p] for p in photos):+.2f} dB)"
                        for name, row in gap.iterrows())
    return f"""

### Leave-photos-out cross-validation

The ten photos are cut into {meta['cv_folds']} folds (fold 0 is the split above); in each, a
ResUNet is trained with the default recipe on the other photos (same budget as above) and scored on
{meta['cv_n_val_per_fold']:,} crops of the held-out photos, so that every photo is scored once by a
model that never saw it. PSNR per photo and the mean over photos:

{_table(table)}

{res.figure('fig9_cross_validation', 'Leave-photos-out cross-validation: PSNR of every photo, '
            'from the fold that held it out.')}

Against BM3D (positive: the network wins): {summary}."""


def section_discussion(res: Results) -> str:
    """What holds and what does not: every claim computed from the results it rests on."""
    # a claim needs both the record and the table it rests on, as its section does
    summaries = {sweep: res.csv(f"{sweep}_summary") for sweep in ("lr_sweep", "batch_size_sweep")}
    lr, bs = (res.json(sweep) if summaries[sweep] is not None else None for sweep in summaries)
    table = res.csv("comparisons")
    cmp = res.json("comparisons") if table is not None else None
    gen = res.json("generalisation")
    points = []
    if lr and bs:
        verdicts = []
        for name, sweep, chosen in (("learning rate", "lr_sweep", REPORT_LR),
                                    ("batch size", "batch_size_sweep", REPORT_BATCH_SIZE)):
            v = verdict(summaries[sweep], chosen)
            verdicts.append((name, v["best"], chosen, v["gap"], v["tied"], v["diverged"]))
        ties = [v[4] for v in verdicts]
        hold = "hold" if all(ties) else "do not all hold" if False in ties else "cannot all be judged"
        detail = "; ".join(f"{name}: best {best:g}, the report's {chosen:g} "
                           + ("diverged" if diverged else "is the best" if best == chosen else f"is {gap:.2f} dB below"
                              + {True: " (within the confidence intervals)", False: "",
                                 None: " (one run: no confidence interval)"}[tied])
                           for name, best, chosen, gap, tied, diverged in verdicts)
        points.append(f"**The report's hyperparameters {hold}** at this "
                      f"budget ({detail}). Above the optimum the learning rate fails abruptly (training "
                      "collapses to a flat image); at a fixed number of epochs larger batches lose because "
                      "they take fewer steps.")
    if cmp:
        h = cmp["headline"]
        gap = h["n2c"] - h["n2n"]
        per_noise = table.pivot(index="noise", columns="method", values="psnr")
        gaps = per_noise[N2C] - per_noise[N2N]
        curve = res.csv("learning_curve")
        curve_gaps = None if curve is None else (
            curve.pivot(index="n_train", columns="target", values="psnr").eval("noise2clean - noise2noise"))
        points.append(f"**Noise2Noise against clean targets:** {gap:.2f} dB apart at equal budget "
                      f"({'within' if gap <= 0.2 else 'outside'} the 0.2 dB target"
                      f"{'' if gap <= 0.2 else f', missed by {gap - 0.2:.2f} dB'}). Across noise models "
                      f"Noise2Clean minus Noise2Noise ranges from {gaps.min():+.2f} to {gaps.max():+.2f} dB"
                      + (f", and along the learning curve from {curve_gaps.min():+.2f} to {curve_gaps.max():+.2f} dB"
                         if curve_gaps is not None else "") + ".")
        diff = h["n2n"] - h["best_classical_psnr"]
        target = "met" if diff >= 0.5 else f"missed by {0.5 - diff:.2f} dB here"
        points.append(f"**Against classical denoisers:** at this profile's budget the ResUNet is {abs(diff):.2f} dB "
                      f"{'above' if diff >= 0 else 'below'} {h['best_classical']} on gaussian noise "
                      f"(target: +0.5 dB in the full profile, {target}).")
        for noise in [n for n in dict.fromkeys(table["noise"]) if n != "gaussian"]:
            rows = table[table["noise"] == noise].set_index("method")["psnr"]
            classical = rows.drop(index=[NOISY_INPUT, N2N, N2C])
            margin = rows[N2N] - classical.max()
            points.append(f"On {noise} noise Noise2Noise scores {rows[N2N]:.2f} dB, "
                          f"{abs(margin):.2f} dB {'above' if margin >= 0 else 'below'} the best classical "
                          f"method ({classical.idxmax()}, {classical.max():.2f} dB).")
    if gen:
        table = pd.DataFrame(gen["table"]).set_index("method")
        report_recipe, best = REPORT_RECIPE, gen["best_recipe"]
        photos = [c for c in table.columns if c != "all"]
        worst = min(photos, key=lambda p: table.loc[report_recipe, p] - table.loc[BM3D, p])
        points.append(f"**Generalisation is the main limit.** With the report's recipe the held-out photo "
                      f"{worst} scores {table.loc[report_recipe, worst]:.2f} dB, "
                      f"{table.loc[BM3D, worst] - table.loc[report_recipe, worst]:.2f} dB below BM3D; the best "
                      f"recipe, {best}, lifts it to {table.loc[best, worst]:.2f} dB and the mean from "
                      f"{table.loc[report_recipe, 'all']:.2f} to {table.loc[best, 'all']:.2f} dB.")
    points.append("**What would close the gaps:** more optimizer steps. The quick profile trains each "
                  "compared network on a few thousand images seen; the full profile (50,000 pairs, tens of "
                  "epochs, a GPU) is where the targets are set, and it has not been run for this report "
                  "because no GPU was available.")
    return "## 11. Discussion\n\n" + "\n\n".join(f"- {p}" for p in points)


def section_speed() -> str:
    files = sorted(config.BENCHMARK_RESULTS_DIR.glob("throughput-*.json"))  # many-networks-*: its own schema
    if not files:
        return "## 10. Speed\n\n*(benchmark not run yet)*"
    parts = ["## 10. Speed\n\nFrom `python -m benchmarks.throughput` (JSON in `benchmarks/results/`): "
             "training images/s of the Table I ResUNet on 32x32 pairs, against the common per-sample "
             "DataLoader loop at the report's settings (`reference`), the FLOP rate as a fraction of a "
             "large matmul's in the same precision, and the validation PSNR after equal epochs (mean over "
             "seeds; the difference to fp32 at the same batch and seed, with its 95% CI). Speeds depend on "
             "the CPU (AVX-512, native bf16): each table names the one it was measured on."]
    for path in files:
        b = json.loads(path.read_text())
        p = b["provenance"]
        train = pd.DataFrame(b["settings"])[["name", "layout", "images_per_s", "speedup_vs_reference",
                                              "gflops_per_s", "fraction_of_peak", "psnr", "psnr_delta_db",
                                              "psnr_delta_ci95"]]
        infer = pd.DataFrame(b["inference"]["rows"])[["name", "images_per_s", "gflops_per_s", "fraction_of_peak"]]
        parts.append(f"**{path.name}** ({p.get('device')}, torch {p.get('torch')}, commit `{p.get('git_commit')}`)"
                     f"\n\nCPU: {describe_cpu(p.get('cpu'))}."
                     f"\n\n{_table(train, ('g', 'g', '.0f', '.2f', '.0f', '.2f', '.2f', '.2f', '.2f'))}"
                     f"\n\nInference, 32x32, batch {b['inference']['batch']}:\n\n"
                     f"{_table(infer, ('g', '.0f', '.0f', '.2f'))}\n\n"
                     f"{_fastest(b)}"
                     f"Tiled denoising of a {b['tiled_denoise']['image_shape']} image (tile "
                     f"{b['tiled_denoise']['tile']}): {b['tiled_denoise']['megapixels_per_s']:.2f} megapixels/s. "
                     f"Peak training memory at the default batch: {b['memory']['peak_mib']:.0f} MiB.")
    return "\n\n".join(parts)


def _fastest(b: dict) -> str:
    """One sentence on the fastest training setting, from a benchmark's results."""
    rows = [r for r in b["settings"] if r.get("images_per_s")]
    best = max(rows, key=lambda r: r["images_per_s"])
    ci = best.get("psnr_delta_ci95")
    spread = (" dB from fp32's (one seed: no CI)" if ci is None or pd.isna(ci)
              else f" ± {ci:.2f} dB from fp32's (95% CI over seeds)")
    quality = (f", and after equal epochs its PSNR is {best['psnr_delta_db']:+.2f}{spread}"
               if best.get("psnr_delta_db") is not None else "")
    return (f"The fastest setting, {best['name']}, trains {best['speedup_vs_reference']:.2f}x as fast as "
            f"`reference` at {best['fraction_of_peak']:.0%} of the matmul peak in its precision{quality}. ")


def section_reproduce() -> str:
    return """## Reproducing

```bash
make reproduce                      # this report's quick profile: all notebooks, figures and results
make reproduce PROFILE=full         # the report's scale, on a GPU
.venv/bin/python -m n2n_utils.pipeline --profile full --dataset /path/to/folder/with/course/pkl/files
make report                         # re-render this file from results/
```

With the course's `train_data.pkl` and `val_data.pkl` in a folder, the third command trains and
evaluates on them, and its validation PSNR is the number comparable to the report's 24.6 dB."""


def render(profiles: tuple[str, ...] = ("quick", "full"), results_root: Path = config.RESULTS_DIR,
           figures_root: Path = config.FIGURES_DIR) -> str:
    results = [Results(p, results_root, figures_root) for p in profiles]
    # none of those run: a smaller profile's reproduction (smoke, whose report the pipeline
    # offers to render) reports its own numbers rather than none
    smaller = [Results(p, results_root, figures_root) for p in PROFILES if p not in profiles]
    results = [r for r in results if r.exists] or [r for r in smaller if r.exists][-1:] or results[:1]
    main = results[-1]  # the largest profile that was run
    parts = ["# Noise2Noise with the EE-559 ResUNet: a reproduction\n\n"
             "*Rendered by `python -m n2n_utils.report` from `results/`; do not edit by hand.*",
             section_abstract(main), section_data(main), section_model(main), section_training(main),
             section_sweeps(main), section_predictions(main), section_table2(results),
             section_comparisons(main), section_generalisation(main), section_blind(main), section_speed(),
             section_discussion(main), section_reproduce()]
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


README_PATH = config.ROOT / "README.md"
README_MARKERS = ("<!-- speed:start (rendered by `make report`) -->", "<!-- speed:end -->")


def render_readme(readme: str) -> str:
    """README.md with its speed block (between README_MARKERS) rendered from benchmarks/results/."""
    start, end = README_MARKERS
    if start not in readme or end not in readme:
        return readme
    head, rest = readme.split(start, 1)
    body = section_speed().split("\n", 2)[2]  # without the report's heading
    return f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render report/report.md (and README's speed table) "
                                     "from results/.")
    parser.add_argument("--check", action="store_true", help="fail if a committed rendering is stale")
    args = parser.parse_args(argv)
    if not Path(config.RESULTS_DIR).is_dir():  # a mistyped N2N_OUTPUT_ROOT: not a report of nothing
        print(f"report: error: {config.RESULTS_DIR}: folder not found: nothing to render (is N2N_OUTPUT_ROOT "
              "right?)", file=sys.stderr)
        return 1
    try:
        outputs = {REPORT_PATH: render()}
    except ResultsFileError as err:
        print(f"report: error: {err}", file=sys.stderr)
        return 1
    # the README is the repository's: the report of another output root (a reproduction) leaves it alone
    if Path(config.OUTPUT_ROOT).resolve() == config.ROOT.resolve():
        outputs[README_PATH] = render_readme(README_PATH.read_text())
    if args.check:
        stale = [p for p, text in outputs.items() if (p.read_text() if p.exists() else "") != text]
        for path in stale:
            print(f"{path} is stale: run `make report`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in outputs.items():
        write_atomic(path, lambda tmp, text=text: tmp.write_text(text))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
