import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import n2n_utils.comparisons as comparisons  # noqa: E402
import n2n_utils.gaps as gaps  # noqa: E402
from n2n_utils.comparisons import learning_curve, resunet_config, subset  # noqa: E402
from n2n_utils.plots import plot_grouped_bars, plot_learning_curve  # noqa: E402
from n2n_utils.seeds import (  # noqa: E402
    CROP,
    PER_CROP,
    PHOTO,
    split_per_crop,
)
from n2n_utils.training import TrainConfig  # noqa: E402


def test_recipe_per_noise():
    base = TrainConfig(epochs=2)
    assert resunet_config("gaussian", base).loss == "mse"
    assert set(resunet_config("gaussian", base).augment) == {"dihedral", "channel_permutation", "inversion"}
    assert resunet_config("impulse", base).loss == "l1"
    assert "inversion" not in resunet_config("poisson", base).augment
    assert resunet_config("gaussian", base, augment=()).augment == ()


def test_compared_noises_add_the_headline_noise_and_refuse_one_without_a_headline():
    # notebook 05 run with -p noise poisson in the smoke profile (gaussian, impulse) compared only
    # those two and failed at the headline, after every network had trained, with pandas'
    # "['noisy input', ...] not found in axis"
    assert comparisons.compared_noises(("gaussian", "impulse"), "poisson") == ("gaussian", "impulse", "poisson")
    assert comparisons.compared_noises(("gaussian", "impulse"), "impulse") == ("gaussian", "impulse")
    with pytest.raises(ValueError, match="'gaussian_blind': no classical method suits it.*gaussian, impulse"):
        comparisons.compared_noises(("gaussian",), "gaussian_blind")
    with pytest.raises(ValueError, match="unknown noise 'salt'"):
        comparisons.compared_noises(("gaussian",), "salt")
    with pytest.raises(ValueError, match="unknown noise 'salt'"):
        comparisons.compared_noises(("salt",), "gaussian")


def test_subset_keeps_validation(small_data):
    part = subset(small_data, 50)
    assert len(part.train_input) == len(part.train_clean) == 50 and part.meta["n_train"] == 50
    assert part.val_input is small_data.val_input


def test_learning_curve_uses_equal_steps(small_data, monkeypatch):
    seen = []

    class Result:
        def __init__(self, config):
            self.config = config

    def fake_train_many(datasets, configs):
        seen.extend((len(d.train_input), c.epochs, c.target, c.seed) for d, c in zip(datasets, configs, strict=True))
        return [Result(c) for c in configs]

    def fake_row(result, data, label):
        return {"method": label, "seed": result.config.seed, "psnr": 20.0, "psnr_ci95": 0.1}

    monkeypatch.setattr(comparisons, "train_many", fake_train_many)
    monkeypatch.setattr(comparisons, "scored_row", fake_row)
    rows = learning_curve(small_data, TrainConfig(epochs=2), (100, 400), images_seen=800)
    assert seen == [(100, 8, "noise2noise", 0), (100, 8, "noise2clean", 0), (400, 2, "noise2noise", 0),
                    (400, 2, "noise2clean", 0)]
    fig = plot_learning_curve(pd.DataFrame(rows))
    assert fig.axes[0].get_xlabel().startswith("training pairs")
    seen.clear()  # with seeds, every run once per seed, the same steps
    rows = learning_curve(small_data, TrainConfig(epochs=2), (100,), images_seen=800, seeds=(3, 4))
    assert seen == [(100, 8, "noise2noise", 3), (100, 8, "noise2noise", 4), (100, 8, "noise2clean", 3),
                    (100, 8, "noise2clean", 4)]
    assert [(r["target"], r["seed"]) for r in rows] == [("noise2noise", 3), ("noise2noise", 4),
                                                        ("noise2clean", 3), ("noise2clean", 4)]


def test_comparison_plot_groups_methods():
    table = pd.DataFrame({"noise": ["gaussian", "gaussian", "impulse", "impulse"],
                          "method": ["noisy input", "BM3D", "noisy input", "median"],
                          "psnr": [20.5, 28.9, 14.3, 25.0], "psnr_ci95": [0.1, 0.3, 0.2, 0.4]})
    fig = plot_grouped_bars(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["gaussian", "impulse"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["noisy input", "BM3D", "median"]
    assert ax.get_ylabel() == "validation PSNR (dB)"


@pytest.mark.slow
def test_compare_methods_scores_every_suited_method(small_data):
    d = subset(small_data, 48)
    d.val_input, d.val_clean, d.val_groups = d.val_input[:6], d.val_clean[:6], d.val_groups[:6]
    rows = comparisons.compare_methods(d, TrainConfig(epochs=1, batch_size=16, progress=False), n_tune=4)
    methods = [r["method"] for r in rows]
    assert methods == [comparisons.NOISY_INPUT, "BM3D", "NLM", "TV", comparisons.N2N, comparisons.N2C]
    psnr = {r["method"]: r["psnr"] for r in rows}
    assert all(r["noise"] == "gaussian" and r["psnr_ci95"] > 0 and -1 < r["ssim"] <= 1 for r in rows)
    assert 18 < psnr[comparisons.NOISY_INPUT] < 23  # sigma 25/255: about 20.5 dB
    assert all(psnr[m] > psnr[comparisons.NOISY_INPUT] + 2 for m in ("BM3D", "NLM", "TV"))  # tuned: they denoise
    assert gaps.headline(pd.DataFrame(rows))["best_classical"] == max(("BM3D", "NLM", "TV"), key=psnr.get)
    # each row keeps its score on every crop, with the crop's photo: the mean is the row's PSNR
    for row in rows:
        scores = row[PER_CROP]
        assert scores[CROP] == list(range(6)) and scores[PHOTO] == d.val_groups
        assert sum(scores["psnr"]) / 6 == pytest.approx(row["psnr"], abs=1e-4)
    summary, per_crop = split_per_crop(rows, ["noise", "method"])
    top = gaps.headline(summary, per_crop=per_crop)
    assert top[gaps.N2C_MINUS_N2N] == pytest.approx(top["n2c"] - top["n2n"], abs=1e-4)
    assert 0 < top[f"{gaps.N2C_MINUS_N2N}_ci95"] < 10
