"""Many networks trained in one pass end where the same networks trained one after another end:
the same weights to fp32 rounding after a few steps, the same PSNR after an epoch."""

import dataclasses
import math

import pytest
import torch

from n2n_utils.comparisons import subset
from n2n_utils.many import batch_together, groups, train_each, train_many, train_together
from n2n_utils.training import TrainConfig, build_model, train

FAST = dict(epochs=1, batch_size=8, precision="fp32", progress=False, eval_batch_size=64)
# The fp32 tolerance after 2 steps. The batched (grouped) convolutions add in another order
# (outputs and gradients agree to ~1e-6 relative), but a few of the ~10^7 activations of a
# step sit within that rounding of a ReLU's kink, and Adam's first steps move a weight by
# about lr whatever its gradient's size: so a few tensors can drift by up to ~15% of their
# change from initialisation and the median one by ~1% (measured on this test's configs),
# while losses agree to 1e-4. A wrong data order, learning rate, or a gradient leaking between
# networks moves every tensor by ~100% of its change. After an epoch, PSNR is the check.
MEDIAN_CHANGE_FRACTION, MAX_CHANGE_FRACTION = 0.05, 0.3


def _val(data, n=32):
    return dataclasses.replace(data, val_input=data.val_input[:n], val_clean=data.val_clean[:n])


def _assert_same_weights(a, b, config):
    """a and b hold the same weights within the stated tolerance, measured per tensor as the
    norm of their difference over the norm of b's change from the initialisation."""
    start = build_model(config).state_dict()
    fractions = torch.tensor([float((w - b.state_dict()[name]).norm() / (b.state_dict()[name] - start[name]).norm())
                              for name, w in a.state_dict().items()])
    assert fractions.median() < MEDIAN_CHANGE_FRACTION and fractions.max() < MAX_CHANGE_FRACTION, fractions


def _max_difference(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a.state_dict().values(), b.state_dict().values(),
                                                         strict=True))


def test_three_networks_together_match_one_at_a_time_after_a_few_steps(small_data):
    data = _val(subset(small_data, 16))  # 2 steps at batch 8
    configs = [TrainConfig(seed=0, lr=1e-3, **FAST),
               TrainConfig(seed=1, lr=3e-4, lr_schedule="cosine", loss="l1", **FAST),
               TrainConfig(seed=2, lr=5e-4, target="noise2clean", augment=("dihedral", "inversion"), **FAST)]
    together = train_many(data, configs, route="together")
    alone = [train(data, c) for c in configs]
    for t, a in zip(together, alone, strict=True):
        assert t.info["trained_together"] == 3
        _assert_same_weights(t.model, a.model, t.config)
        assert list(t.history.columns) == list(a.history.columns)
        assert t.history["train_loss"].tolist() == pytest.approx(a.history["train_loss"].tolist(), rel=1e-4)
        assert t.history["lr"].tolist() == pytest.approx(a.history["lr"].tolist())
    # and the networks really are different networks (seed, lr, loss, target all differ)
    assert _max_difference(together[0].model, together[1].model) > 1e-2


@pytest.mark.slow
def test_after_an_epoch_psnr_agrees_within_005_db(small_data):
    data = _val(subset(small_data, 96), 64)  # 12 steps an epoch
    configs = [TrainConfig(seed=s, lr=lr, **FAST) for s, lr in ((0, 1e-3), (1, 5e-4), (2, 2e-3))]
    together = train_many(data, configs, route="together")
    for config, result in zip(configs, together, strict=True):
        alone = train(data, config)
        assert abs(result.final_psnr - alone.final_psnr) < 0.05, (config, result.final_psnr, alone.final_psnr)


def test_each_network_may_have_its_own_data(small_data):
    a, b = _val(subset(small_data, 16)), _val(dataclasses.replace(subset(small_data, 32), meta={"name": "b"}))
    b = dataclasses.replace(b, train_input=b.train_input[16:], train_target=b.train_target[16:],
                            train_clean=b.train_clean[16:])
    configs = [TrainConfig(seed=0, **FAST), TrainConfig(seed=0, **FAST)]
    together = train_together([a, b], configs)
    for data, config, result in zip((a, b), configs, together, strict=True):
        _assert_same_weights(result.model, train(data, config).model, config)
        assert result.info["data"] == data.meta


def test_configs_that_cannot_share_a_pass_are_grouped_apart(small_data):
    configs = [TrainConfig(lr=1e-3), TrainConfig(lr=1e-4, seed=1), TrainConfig(batch_size=16),
               TrainConfig(epochs=3), TrainConfig(loss="l1", augment=())]
    assert groups(configs, [100] * 5) == [[0, 1, 4], [2], [3]]
    assert groups(configs[:2], [100, 50]) == [[0], [1]]  # another number of training pairs
    data = _val(subset(small_data, 16))
    with pytest.raises(ValueError, match="agree on"):
        train_together([data, data], configs[2:4])


def test_one_at_a_time_route_is_plain_train(small_data):
    data = _val(subset(small_data, 16))
    configs = [TrainConfig(seed=0, **FAST), TrainConfig(seed=1, **FAST)]
    results = train_many(data, configs, route="one at a time")
    for config, result in zip(configs, results, strict=True):
        assert "trained_together" not in result.info
        assert _max_difference(result.model, train(data, config).model) == 0
    with pytest.raises(ValueError, match="route="):
        train_many(data, configs, route="fast")
    with pytest.raises(ValueError, match="2 datasets for 1 configs"):
        train_many([data, data], configs[:1])


def test_measured_rule_batches_on_cuda_only():
    assert not batch_together(TrainConfig(device="cpu"), 6)  # benchmarks/many_routes.py: slower on a CPU
    assert not batch_together(TrainConfig(device="cuda"), 1)
    assert batch_together(TrainConfig(device="cuda"), 6)


def test_divergence_names_the_network(small_data):
    data = _val(subset(small_data, 16))
    configs = [TrainConfig(seed=0, final_activation="linear", **FAST),
               TrainConfig(seed=5, lr=1e12, final_activation="linear", **FAST)]
    with pytest.raises(FloatingPointError, match=r"network 2/2 \(lr=1e\+12, seed=5"):
        train_many(data, configs, route="together")


def test_fp16_loss_scaling_runs_one_scaler_per_network(small_data, monkeypatch):
    # fp16 autocast needs CUDA; on the CPU check the scaler logic alone: each network's
    # scaler scales only its own loss, so the unscaled step equals plain fp32 training
    if torch.cuda.is_available():
        pytest.skip("the CPU stand-in is only needed without CUDA")
    from n2n_utils import many
    made = []
    real = torch.amp.GradScaler

    def scaler(device_type, enabled):
        made.append(real("cpu", init_scale=2.0 ** 8, enabled=True))
        return made[-1]

    monkeypatch.setattr(many.torch.amp, "GradScaler", scaler)
    data = _val(subset(small_data, 16))
    configs = [TrainConfig(seed=0, **FAST), TrainConfig(seed=1, lr=1e-4, **FAST)]
    together = train_together([data, data], configs)
    assert len(made) == 2 and all(s.get_scale() == 2.0 ** 8 for s in made)  # no overflow, no skipped step
    for config, result in zip(configs, together, strict=True):
        _assert_same_weights(result.model, train(data, config).model, config)


@pytest.mark.slow
def test_benchmark_row_trains_the_sweep_both_ways(tmp_path):
    from benchmarks.many_networks import CONFIGS, run
    results = run("tiny", "cpu", tmp_path / "many.json", engine=False)
    row, sweep = results["sweep"], CONFIGS["tiny"]
    assert row["networks"] == len(sweep.lrs) * len(sweep.seeds)
    assert row["seconds together"] > 0 and row["seconds one at a time"] > 0 and row["speedup"] > 0
    assert row["max_psnr_difference_db"] < 0.1  # the same networks trained two ways (bf16 here: looser)
    assert {"model", "cores", "avx512", "avx512_bf16", "amx_bf16", "threads"} <= set(results["provenance"]["cpu"])
    assert (tmp_path / "many.json").exists() and results["engine"] == []


def test_checkpoints_are_written_and_read_back_on_both_routes(small_data, tmp_path):
    from n2n_utils.weights import load_weights

    data = _val(subset(small_data, 16))
    configs = [TrainConfig(seed=s, **FAST) for s in (0, 1)]
    for route in ("together", "one at a time"):
        paths = [tmp_path / f"{route}-{c.seed}.pt" for c in configs]
        trained = train_many(data, configs, route=route, checkpoints=paths)
        assert all(p.exists() for p in paths)
        again = train_many(data, configs, route=route, checkpoints=paths)  # read back, not trained again
        for t, a, path in zip(trained, again, paths, strict=True):
            assert "trained_together" not in a.info
            assert _max_difference(t.model, a.model) == 0.0
            assert _max_difference(t.model, load_weights(path, "cpu")) == 0.0  # what notebook 04 loads
            assert t.history["val_psnr"].tolist() == a.history["val_psnr"].tolist()
    with pytest.raises(ValueError, match="1 checkpoints for 2 configs"):
        train_many(data, configs, checkpoints=paths[:1])


def test_networks_trained_together_record_the_weights_they_started_from(small_data, tmp_path):
    """As train's checkpoints do: their card's `init` (was: none for a group trained together)."""
    from n2n_utils.weights import DEFAULT_WEIGHTS, init_record

    data = _val(subset(small_data, 8), 8)
    configs = [TrainConfig(seed=s, init=DEFAULT_WEIGHTS, **FAST) for s in (0, 1)]
    paths = [tmp_path / "a.pt", tmp_path / "b.pt"]
    train_many(data, configs, route="together", checkpoints=paths)
    assert [torch.load(p, weights_only=True).get("init") for p in paths] == [init_record(DEFAULT_WEIGHTS)] * 2


def test_a_network_whose_output_overflows_stops_the_group_as_it_stops_train(small_data):
    # lr 1e30, one step: a finite loss, then weights whose output is NaN. train (route "one at a
    # time") stopped; together, the group went on and recorded a validation PSNR of nan
    data = _val(subset(small_data, 8), 8)
    configs = [TrainConfig(seed=0, **FAST), TrainConfig(seed=1, lr=1e30, **FAST)]
    for route in ("one at a time", "together"):
        with pytest.raises(FloatingPointError, match="non-finite output on the validation images after epoch 1"):
            train_many(data, configs, route=route)
    with pytest.raises(FloatingPointError, match=r"of network 2/2 \(lr=1e\+30, seed=1"):
        train_many(data, configs, route="together")


def test_kept_divergence_loses_only_the_diverging_network_on_both_routes(small_data):
    data = _val(subset(small_data, 8), 8)
    configs = [TrainConfig(seed=0, **FAST), TrainConfig(seed=1, lr=1e30, **FAST)]
    alone = train(data, configs[0])
    for route in ("one at a time", "together"):
        results = dict(train_each(data, configs, route=route, keep_diverged=True))
        assert results[1].model is None and math.isnan(results[1].final_psnr)
        assert results[1].info["diverged"].startswith("training diverged: non-finite output")
        assert results[1].info["seconds"] > 0 and results[1].info["precision"] == "fp32"
        # the group that stopped is trained again one at a time: the healthy network is plain train's
        assert "diverged" not in results[0].info
        assert results[0].final_psnr == pytest.approx(alone.final_psnr, abs=1e-9)
