"""Section 11 and the closing one: what holds and what does not, each claim computed from the
results it rests on (the sweeps, the comparisons, the generalisation study), and how to
reproduce the report.
"""

from __future__ import annotations

import pandas as pd

from ..comparisons import N2C, N2N, NOISY_INPUT
from ..findings import (
    bm3d_target_words,
    change_verb,
    count,
    listing,
    paired_ci_words,
    target_verdict,
    third_split_words,
)
from ..gaps import N2C_MINUS_N2N, N2N_MINUS_CLASSICAL, TARGET_GAP_TO_N2C_DB
from ..generalisation import BM3D, REPORT_RECIPE, worst_photo
from ..profiles import PROFILES
from ..runs import REPORT_BATCH_SIZE, REPORT_LR
from ..seeds import N_SEEDS
from ..sweeps import verdict
from .ee559 import REPORT_PSNR_DB
from .paired import HEADLINE_NOISE, compared
from .results import Results


def section_discussion(res: Results) -> str:
    """What holds and what does not: every claim computed from the results it rests on, and
    each left out where they are not there."""
    points = [*_hyperparameter_points(res), *_comparison_points(res), *_generalisation_points(res),
              _closing_point(res)]
    return "## 11. Discussion\n\n" + "\n\n".join(f"- {p}" for p in points)


def _closing_point(res: Results) -> str:
    """What would close the gaps: the compared networks' budget in these results (notebook 05's
    comparisons.json, where it is there) and, outside the full profile, the full profile's, from
    profiles.PROFILES, which has not been run."""
    text = "**What would close the gaps:** more optimizer steps."
    cmp = res.json("comparisons")
    if cmp:
        n, epochs = cmp["n_train"], cmp["base_config"]["epochs"]
        text += (f" The {res.profile} profile trains each compared network on {n:,} pairs for "
                 f"{count(epochs, 'epoch')}, {n * epochs:,} images seen.")
    if res.profile != "full":
        full = PROFILES["full"]
        text += (f" The full profile ({full.cmp_n_train:,} pairs for each compared network, "
                 f"{count(full.cmp_epochs, 'epoch')}; {full.n_train:,} pairs and {count(full.epochs, 'epoch')} "
                 "for the main run; a GPU) is where the targets are set, and it has not been run for this report "
                 "because no GPU was available.")
    return text


def _hyperparameter_points(res: Results) -> list[str]:
    """Whether the report's learning rate and batch size hold against the sweeps' best."""
    sweeps = (("learning rate", "lr_sweep", REPORT_LR), ("batch size", "batch_size_sweep", REPORT_BATCH_SIZE))
    summaries = {sweep: res.csv(f"{sweep}_summary") for _, sweep, _ in sweeps}
    # a claim needs both the record and the table it rests on, as its section does
    if any(summary is None for summary in summaries.values()) or not all(map(res.json, summaries)):
        return []
    verdicts = [(name, chosen, verdict(summaries[sweep], chosen)) for name, sweep, chosen in sweeps]
    ties = [judged["tied"] for _, _, judged in verdicts]  # None: one run, no CI to judge by
    hold = "hold" if all(ties) else "do not all hold" if False in ties else "cannot all be judged"
    within = {True: " (within the confidence intervals)", False: "", None: " (one run: no confidence interval)"}
    detail = "; ".join(f"{name}: best {judged['best']:g}, the report's {chosen:g} "
                       + ("diverged" if judged["diverged"] else "is the best" if judged["best"] == chosen
                          else f"is {judged['gap']:.2f} dB below{within[judged['tied']]}")
                       for name, chosen, judged in verdicts)
    return [f"**The report's hyperparameters {hold}** at this "
            f"budget ({detail}). Above the optimum the learning rate fails abruptly (training "
            "collapses to a flat image); at a fixed number of epochs larger batches lose because "
            "they take fewer steps."]


def _comparison_points(res: Results) -> list[str]:
    """Noise2Noise against Noise2Clean and against the classical denoisers, per noise model, each
    gap with its paired 95% CI where the per-crop scores were recorded (paired.compared), else
    alone."""
    numbers = compared(res)
    if numbers is None:
        return []
    table, headline, paired, paired_curve = numbers.table, numbers.headline, numbers.gaps, numbers.along_curve
    gap = headline["n2c"] - headline["n2n"]
    per_noise = table.pivot(index="noise", columns="method", values="psnr")
    gaps = per_noise[N2C] - per_noise[N2N]
    curve = res.csv("learning_curve")
    curve_gaps = None if curve is None else (
        curve.pivot(index="n_train", columns="target", values="psnr").eval("noise2clean - noise2noise"))
    if paired is None:
        within = gap <= TARGET_GAP_TO_N2C_DB
        judged = (f"{'within' if within else 'outside'} the {TARGET_GAP_TO_N2C_DB} dB target"
                  f"{'' if within else f', missed by {gap - TARGET_GAP_TO_N2C_DB:.2f} dB'}")
    else:
        judged = paired_ci_words(gap, headline[f"{N2C_MINUS_N2N}_ci95"], headline[N_SEEDS], TARGET_GAP_TO_N2C_DB)
    along_curve = ""
    if curve_gaps is not None:
        along_curve = (f", and along the learning curve from {curve_gaps.min():+.2f} to {curve_gaps.max():+.2f} dB"
                       + _resolved(None if paired_curve is None else paired_curve.set_index("n_train"),
                                   N2C_MINUS_N2N, ("at", " pairs")))
    points = [f"**Noise2Noise against clean targets:** {gap:.2f} dB apart at equal budget "
              f"({judged}). Across noise models "
              f"Noise2Clean minus Noise2Noise ranges from {gaps.min():+.2f} to {gaps.max():+.2f} dB"
              f"{_resolved(paired, N2C_MINUS_N2N, ('on', ''))}{along_curve}."]
    diff = headline["n2n"] - headline["best_classical_psnr"]
    target = PROFILES[res.profile].target_over_bm3d_db
    points.append(f"**Against classical denoisers:** at this profile's budget the ResUNet is {abs(diff):.2f} dB "
                  f"{'above' if diff >= 0 else 'below'} {headline['best_classical']} on {HEADLINE_NOISE} noise "
                  f"({_classical_ci(paired, HEADLINE_NOISE, diff, '; ')}target of the {res.profile} profile: "
                  f"{bm3d_target_words(target)}, {target_verdict(diff - target)}).")
    for noise in [n for n in dict.fromkeys(table["noise"]) if n != HEADLINE_NOISE]:
        rows = table[table["noise"] == noise].set_index("method")["psnr"]
        classical = rows.drop(index=[NOISY_INPUT, N2N, N2C])
        if classical.empty:  # a noise that no classical method suits
            continue
        margin = rows[N2N] - classical.max()
        ci = _classical_ci(paired, noise, margin, "")
        points.append(f"On {noise} noise Noise2Noise scores {rows[N2N]:.2f} dB, "
                      f"{abs(margin):.2f} dB {'above' if margin >= 0 else 'below'} the best classical "
                      f"method ({classical.idxmax()}, {classical.max():.2f} dB{'; ' + ci if ci else ''}).")
    return points


def _classical_ci(paired: pd.DataFrame | None, noise: str, margin: float, end: str) -> str:
    """Noise2Noise minus the best classical method's paired 95% CI in words (findings.paired_ci_words),
    followed by `end`; "" without per-crop scores."""
    if paired is None or noise not in paired.index:
        return ""
    return paired_ci_words(margin, paired.loc[noise, f"{N2N_MINUS_CLASSICAL}_ci95"], paired.loc[noise, N_SEEDS]) + end


def _resolved(paired: pd.DataFrame | None, key: str, where: tuple[str, str]) -> str:
    """Which of the paired gaps `key` (rows of `paired`, named by its index; `where`: the words
    around their names, ('on', '') or ('at', ' pairs')) resolve a difference, 0 outside their
    paired 95% CI: ' (0 lies outside the paired 95% CI on poisson and text only)'; "" without
    per-crop scores, or where no CI can be given. Gaps from one seed are not judged (their CIs
    cover the crops alone: findings.paired_ci_words), and it says so."""
    if paired is None:
        return ""
    judged = paired[paired[f"{key}_ci95"].notna()]
    if not judged.empty and (judged[N_SEEDS] < 2).all():
        return " (one training run each: their paired 95% CIs, over the crops alone, do not settle these)"
    outside = [name for name, gap, half in zip(judged.index, judged[key], judged[f"{key}_ci95"], strict=True)
               if abs(gap) > half]
    if judged.empty:
        return ""
    if not outside:
        return " (0 lies inside every paired 95% CI)"
    if len(outside) == len(paired):
        return " (0 lies outside every paired 95% CI)"
    listed = listing(f"{n:,}" if pd.api.types.is_number(n) else n for n in outside)
    return f" (0 lies outside the paired 95% CI {where[0]} {listed}{where[1]} only)"


def _generalisation_points(res: Results) -> list[str]:
    """The report's recipe on its worst held-out photo against BM3D, what the best recipe makes
    of it, and, where recorded, how far it stays from BM3D on the photos it was not chosen on."""
    gen = res.json("generalisation")
    if not gen:
        return []
    table = pd.DataFrame(gen["table"]).set_index("method")
    reported, best = table.loc[REPORT_RECIPE], table.loc[gen["best_recipe"]]
    worst = worst_photo(reported - table.loc[BM3D])
    return [f"**Generalisation is the main limit.** With the report's recipe the held-out photo "
            f"{worst} scores {reported[worst]:.2f} dB, {table.loc[BM3D, worst] - reported[worst]:.2f} dB below BM3D; "
            f"the best recipe, {gen['best_recipe']}, {change_verb(reported[worst], best[worst])} it to "
            f"{best[worst]:.2f} dB and the mean from "
            f"{reported['all']:.2f} to {best['all']:.2f} dB"
            + (f"; {third_split_words(gen['third_split'])}." if gen.get("third_split") else ".")]


def section_reproduce() -> str:
    """The closing section: the commands that reproduce this report, and the one that runs on
    the course's files."""
    return f"""## Reproducing

```bash
make reproduce                      # this report's quick profile: all notebooks, figures and results
make reproduce PROFILE=full         # the report's scale, on a GPU
.venv/bin/python -m n2n_utils.pipeline --profile full --dataset /path/to/folder/with/course/pkl/files
make report                         # re-render this file from results/
```

With the course's `train_data.pkl` and `val_data.pkl` in a folder, the third command trains and
evaluates on them, and its validation PSNR is the number comparable to the report's {REPORT_PSNR_DB} dB."""
