"""The sentences that close the notebooks: computed from results, and true of them."""

import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from n2n_utils import findings
from n2n_utils.comparisons import N2C, N2N, NOISY_INPUT
from n2n_utils.gaps import N2C_MINUS_N2N, N2N_MINUS_CLASSICAL, headline
from n2n_utils.generalisation import gap_to, per_photo_table
from n2n_utils.seeds import N_SEEDS


def _summary(means, cis, values=(4e-4, 8e-4, 1.6e-3)):
    return pd.DataFrame({"value": values, "psnr_mean": means, "psnr_ci95": cis, "n_runs": 3, "seconds_mean": 1.0})


def test_sweep_finding_says_whether_the_reports_value_holds():
    best = findings.sweep_finding(_summary([25.0, 26.0, 25.5], [0.1] * 3), "learning rate", 8e-4)
    assert best == "The report's learning rate holds: 0.0008 scores best here, 0.0008 (26.00 ± 0.10 dB)."
    tied = findings.sweep_finding(_summary([25.0, 25.9, 26.0], [0.1] * 3), "learning rate", 8e-4)
    assert "holds: 0.0008 is 0.10 dB below the best, 0.0016 (26.00 ± 0.10 dB), within" in tied
    lost = findings.sweep_finding(_summary([25.0, 25.0, 26.0], [0.1] * 3), "learning rate", 8e-4)
    assert "does not hold at this budget: 0.0008 is 1.00 dB below the best" in lost


def test_comparisons_finding_reads_the_headline():
    table = pd.DataFrame([{"noise": "gaussian", "method": m, "psnr": p}
                          for m, p in ((NOISY_INPUT, 20.5), ("BM3D", 27.0), ("TV", 26.0), (N2N, 27.6), (N2C, 27.9))])
    text = findings.comparisons_finding(headline(table))
    assert text == ("On gaussian noise, Noise2Noise scores 27.60 dB: 0.30 dB below Noise2Clean at the same budget, "
                    "and 0.60 dB above the best classical method, BM3D (27.00 dB), from a noisy input at 20.50 dB.")


def test_generalisation_finding_names_the_worst_photo():
    rows = [{"method": m, "photo": ph, "psnr": p + d} for m, p in ((NOISY_INPUT, 20), ("BM3D", 28), ("TV", 27),
                                                                  ("recipe", 27.8))
            for ph, d in (("chelsea", 0.0), ("flower", 0.4 * (m == "recipe")), ("all", 0.2 * (m == "recipe")))]
    text = findings.generalisation_finding(gap_to(per_photo_table(rows)), "recipe")
    assert text == "The best recipe, recipe, is 0.00 dB above BM3D on the held-out photos' mean; its worst photo is " \
                   "chelsea (-0.20 dB)."



def test_generalisation_finding_gives_the_chosen_recipe_on_the_photos_it_was_not_chosen_on():
    rows = [{"method": m, "photo": ph, "psnr": p + d} for m, p in ((NOISY_INPUT, 20), ("BM3D", 28), ("TV", 27),
                                                                  ("recipe", 28.5))
            for ph, d in (("chelsea", 0.0), ("flower", 0.4 * (m == "recipe")), ("all", 0.2 * (m == "recipe")))]
    gap = gap_to(per_photo_table(rows))
    split = {"recipe": "recipe", "selection_photos": ["chelsea", "flower"], "test_photos": ["a", "b", "c"],
             "against": "BM3D", "gap": -1.234, "gap_ci95": 0.5}
    text = findings.generalisation_finding(gap, "recipe", None, split)
    assert text.endswith("It was chosen on chelsea and flower; on the 3 other photos, where no recipe was compared, "
                         "each scored by a network that never saw it, it is 1.23 dB below BM3D (± 0.50 dB, 95% CI "
                         "over photos).")
    one = findings.generalisation_finding(gap, "recipe", None, {**split, "test_photos": ["a"], "gap_ci95": math.nan})
    assert "on the 1 other photo, where" in one and "(one photo: no CI)" in one  # not "± nan"
    assert findings.third_split_words({**split, "gap_ci95": None}).endswith("(one photo: no CI)")  # as JSON keeps it

def test_data_training_and_prediction_findings_quote_their_numbers():
    meta = {"noise": "gaussian", "noise_params": {"sigma": 25 / 255}}
    assert "scores 20.52 dB" in findings.data_finding(20.52, 24.4, meta) and "24.4/255" in findings.data_finding(
        20.52, 24.4, meta)
    # the level asked in the unit of the estimate beside it (was: "sigma = 0.09804 in 0-1 units")
    assert "estimates the noise at 24.4/255 (gaussian noise with sigma 25/255; clipping" in findings.data_finding(
        20.52, 24.4, meta)
    by_photo = pd.DataFrame({"group": ["chelsea", "flower", "all"], "psnr": [27.0, 29.0, 28.0],
                             "noisy": [20.0, 21.0, 20.5]})
    text = findings.training_finding(20.5, 28.0, by_photo, 4, 8000)
    assert "from 20.50 dB (noisy input) to 28.00 dB (+7.50 dB)" in text and "chelsea at 27.00 dB (+7.00 dB" in text
    assert text.startswith("After 4 epochs on 8,000 pairs the ResUNet lifts the held-out images")
    # a smoke run (one epoch, 64 pairs) that has not learnt to denoise yet: was "After 1 epochs ... lifts"
    assert findings.training_finding(20.5, 15.5, by_photo, 1, 64).startswith(
        "After 1 epoch on 64 pairs the ResUNet lowers the held-out images from 20.50 dB (noisy input) to 15.50 dB")
    text = findings.predictions_finding(20.0, 27.0, [-1.0, 5.0, 7.0, 9.0])
    assert "from -1.0 to 9.0 dB (median 6.0 dB)" in text and "25% of the images lose" in text
    assert text.startswith("Denoising lifts the mean PSNR from 20.00 to 27.00 dB")
    # notebook 04 after a smoke run of 01 on poisson noise: was "Denoising lifts ... from 19.24 to 16.15 dB"
    assert findings.predictions_finding(19.24, 16.15, [-5.6, -3.1, -0.9]).startswith(
        "Denoising lowers the mean PSNR from 19.24 to 16.15 dB")


def test_sigma_sweep_finding_says_which_targets_are_met():
    from n2n_utils.blind import BLIND, BLIND_ENSEMBLE, BM3D_TRUE, SIGMA25

    summary = pd.DataFrame({BLIND: [30.0, 27.9, 24.0], SIGMA25: [29.0, 28.0, 20.0], BM3D_TRUE: [30.1, 27.5, 24.5]},
                           index=pd.Index([10, 25, 50], name="sigma_255"))
    # a sweep from before the ensemble column (results/quick/blind_sigma.* of earlier commits)
    text = findings.sigma_sweep_finding(summary)
    assert "score -0.10 dB against the weights trained at that level alone (target met" in text
    assert text.endswith("worst level from 10 to 50/255 is 50/255, at -0.50 dB (target missed: no more than "
                         "0.3 dB below).")
    summary.insert(1, BLIND_ENSEMBLE, [30.2, 28.1, 24.3])
    text = findings.sigma_sweep_finding(summary)
    assert "(target missed: no more than 0.3 dB below); with the test-time ensemble, 50/255 at -0.20 dB " \
           "(target met)." in text


def test_comparisons_finding_judges_each_gap_by_its_paired_ci():
    # was: "0.08 dB below Noise2Clean (within their 95% CIs)", the two rows' CIs side by side (+-0.36 and
    # +-0.40 dB), which count twice how hard each crop is: the paired CI of the same gap is far tighter
    top = {"noisy": 20.53, "best_classical": "BM3D", "best_classical_psnr": 28.97, "n2n": 26.76, "n2c": 26.84,
           N2C_MINUS_N2N: 0.08, f"{N2C_MINUS_N2N}_ci95": 0.05, N2N_MINUS_CLASSICAL: -2.21,
           f"{N2N_MINUS_CLASSICAL}_ci95": 0.2, N_SEEDS: 3}
    text = findings.comparisons_finding(top)
    assert text == ("On gaussian noise, Noise2Noise scores 26.76 dB: 0.08 dB below Noise2Clean at the same budget "
                    "(paired 95% CI ± 0.05 dB, which excludes 0 and lies within the 0.2 dB target), and 2.21 dB "
                    "below the best classical method, BM3D (28.97 dB; paired 95% CI ± 0.20 dB, which excludes 0), "
                    "from a noisy input at 20.53 dB.")
    wide = findings.comparisons_finding({**top, f"{N2C_MINUS_N2N}_ci95": 0.15})
    assert "0.08 dB below Noise2Clean at the same budget (paired 95% CI ± 0.15 dB, which includes 0 and " \
           "straddles the 0.2 dB target)" in wide
    missed = findings.comparisons_finding({**top, "n2c": 27.16, N2C_MINUS_N2N: 0.4})
    assert "0.40 dB below Noise2Clean at the same budget (paired 95% CI ± 0.05 dB, which excludes 0 and lies " \
           "beyond the 0.2 dB target)" in missed
    one_crop = findings.comparisons_finding({**top, f"{N2C_MINUS_N2N}_ci95": float("nan")})
    assert "Noise2Clean at the same budget (paired 95% CI n/a), and" in one_crop and "nan" not in one_crop
    # one trained network a side: the CI covers the crops alone, and a second run moves a network's PSNR
    # by more than that: no verdict on 0 (was: "excludes 0" on quick's one-seed gaps), the target on the gap
    one_run = findings.comparisons_finding({**top, N_SEEDS: 1})
    assert "0.08 dB below Noise2Clean at the same budget (paired 95% CI ± 0.05 dB, over the crops alone: one " \
           "training run, whose spread between runs it leaves out; the gap itself is within the 0.2 dB target)" \
        in one_run
    assert "cludes 0" not in one_run
    assert findings.comparisons_finding({key: v for key, v in top.items() if key != N_SEEDS}) == one_run


@settings(max_examples=80, deadline=None)
@given(st.floats(-3, 3), st.floats(0.001, 2))
def test_paired_ci_words_say_whether_0_and_the_target_lie_inside(gap, half):
    words = findings.paired_ci_words(gap, half, 2, target=0.2)
    assert ("excludes 0" in words) == (abs(gap) > half) and ("includes 0" in words) == (abs(gap) <= half)
    assert ("lies within the 0.2 dB target" in words) == (gap + half <= 0.2)
    assert ("lies beyond the 0.2 dB target" in words) == (gap - half > 0.2)
    assert findings.paired_ci_words(gap, half, 2).count("target") == 0
    assert "0.00 dB" not in findings.paired_ci_words(0.01, 0.004, 2)  # a CI too narrow for 0.01 dB is not 0
    one_run = findings.paired_ci_words(gap, half, 1, target=0.2)  # the crops alone: no verdict on 0 or the CI
    assert "cludes 0" not in one_run and "lies" not in one_run and "straddles" not in one_run
    assert one_run.endswith(f"the gap itself is {'within' if gap <= 0.2 else 'beyond'} the 0.2 dB target")