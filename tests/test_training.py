import hashlib
import json
from dataclasses import replace

import pytest
import torch

from n2n_utils.comparisons import subset
from n2n_utils.data import DenoisingData
from n2n_utils.metrics import psnr
from n2n_utils.training import TrainConfig, checkpoint_name, learning_rate, load_checkpoint, train
from n2n_utils.weights import load_weights


def _tiny(data, n=48):
    return DenoisingData(data.train_input[:n], data.train_target[:n], data.val_input[:16],
                         data.val_clean[:16], data.train_clean[:n], meta=data.meta)


FAST = dict(batch_size=16, progress=False, eval_batch_size=64)


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(),
                                                 strict=True))


def test_same_seed_same_result(small_data):
    d = _tiny(small_data)
    a = train(d, TrainConfig(epochs=1, seed=3, **FAST))
    b = train(d, TrainConfig(epochs=1, seed=3, **FAST))
    c = train(d, TrainConfig(epochs=1, seed=4, **FAST))
    assert _same_weights(a.model, b.model)
    assert not _same_weights(a.model, c.model)
    assert list(a.history.columns) == ["epoch", "train_loss", "val_psnr", "lr", "seconds", "images_per_s"]


def test_resume_continues_exactly(small_data, tmp_path):
    d = _tiny(small_data)
    whole = train(d, TrainConfig(epochs=2, **FAST), checkpoint=tmp_path / "whole.pt")
    ckpt = tmp_path / "killed.pt"
    train(d, TrainConfig(epochs=1, **FAST), checkpoint=ckpt)  # the run "dies" after epoch 1
    assert load_checkpoint(ckpt)["epoch"] == 1
    resumed = train(d, TrainConfig(epochs=2, **FAST), checkpoint=ckpt, resume=True)
    assert _same_weights(whole.model, resumed.model)
    assert resumed.history["epoch"].tolist() == [1, 2]
    assert resumed.history["val_psnr"].tolist() == pytest.approx(whole.history["val_psnr"].tolist())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed.pt", "whole.pt"]  # no temp files
    rebuilt = load_weights(ckpt, "cpu")
    assert _same_weights(rebuilt, resumed.model)


def test_a_resumed_run_counts_the_seconds_of_its_earlier_epochs(small_data, tmp_path):
    # was: info["seconds"] timed this call only, so a finished checkpoint read back (notebook 01
    # rerun by the pipeline) recorded "Training took 0.0 minutes", and a resumed one its last epochs
    d = _tiny(small_data)
    first = train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "c.pt")
    saved = load_checkpoint(tmp_path / "c.pt")["seconds"]  # at the last epoch's end, validation included
    assert first.history["seconds"].sum() <= saved <= first.info["seconds"]
    again = train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "c.pt", resume=True)  # nothing left
    assert again.info["seconds"] >= saved
    more = train(d, TrainConfig(epochs=2, **FAST), checkpoint=tmp_path / "c.pt", resume=True)
    assert more.info["seconds"] > saved + more.history["seconds"].iloc[-1]
    # a checkpoint from before the wall time was kept: its epochs' training seconds
    blob = load_checkpoint(tmp_path / "c.pt")
    del blob["seconds"]
    torch.save(blob, tmp_path / "older.pt")
    older = train(d, TrainConfig(epochs=2, **FAST), checkpoint=tmp_path / "older.pt", resume=True)
    assert older.info["seconds"] >= more.history["seconds"].sum()


def test_resume_refuses_a_different_run(small_data, tmp_path):
    d = _tiny(small_data)
    train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"config differs in lr \(checkpoint 0.0008, asked 0.001\)"):
        train(d, TrainConfig(epochs=2, lr=1e-3, **FAST), checkpoint=tmp_path / "c.pt", resume=True)


def test_non_finite_loss_stops_with_a_clear_message(small_data):
    with pytest.raises(FloatingPointError, match="non-finite loss.*lower the learning rate"):
        train(_tiny(small_data), TrainConfig(epochs=1, lr=1e12, final_activation="linear", **FAST))


def test_an_epoch_between_evaluations_keeps_no_checkpoint_of_diverged_weights(small_data, tmp_path):
    # lr 1e30, one step an epoch: the step's loss is finite, the weights after it too, their output is not.
    # With eval_every=2 epoch 1 was not validated and its checkpoint kept them: export-weights shipped a
    # network whose output is NaN, and a resume diverged again in epoch 2 step 1
    one_step = _tiny(small_data, n=16)
    with pytest.raises(FloatingPointError, match="non-finite output on the validation images after epoch 1"):
        train(one_step, TrainConfig(epochs=3, eval_every=2, lr=1e30, precision="fp32", **FAST),
              checkpoint=tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_config_rejects_unknown_keys_and_values():
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="choose one of"):
        TrainConfig(loss="huber")
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainConfig(augment=("mixup",))


def test_noise2clean_needs_clean_targets(small_data):
    d = _tiny(small_data)
    d.train_clean = None
    with pytest.raises(ValueError, match="needs clean training images"):
        train(d, TrainConfig(epochs=1, target="noise2clean", **FAST))


@pytest.mark.slow
def test_short_training_beats_the_noisy_input(small_data):
    d = subset(small_data, 240)  # 60 steps: about +2.9 dB here, against the +1.5 asked
    noisy = psnr(d.val_input.float() / 255, d.val_clean.float() / 255)
    result = train(d, TrainConfig(epochs=2, batch_size=8, progress=False))
    assert result.final_psnr > noisy + 1.5, (noisy, result.history)
    assert result.history["train_loss"].iloc[-1] < result.history["train_loss"].iloc[0]


def test_resume_refuses_other_data_and_a_longer_checkpoint(small_data, tmp_path):
    d = _tiny(small_data)
    train(d, TrainConfig(epochs=2, **FAST), checkpoint=tmp_path / "c.pt")
    with pytest.raises(ValueError, match="more than the 1 asked for"):
        train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "c.pt", resume=True)
    other = _tiny(small_data)
    other.meta = {**d.meta, "n_train": 999}
    with pytest.raises(ValueError, match=r"trained on other data \('.*'\): n_train \(checkpoint \d+, asked 999\)$"):
        train(other, TrainConfig(epochs=3, **FAST), checkpoint=tmp_path / "c.pt", resume=True)
    other.meta = {**d.meta, "crop": 64}  # natural32 cut at another --crop
    with pytest.raises(ValueError, match=r"crop \(checkpoint 32, asked 64\)$"):
        train(other, TrainConfig(epochs=3, **FAST), checkpoint=tmp_path / "c.pt", resume=True)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt: not a torch file"):
        load_checkpoint(tmp_path / "bad.pt")


def test_resume_on_other_data_names_the_data_before_the_options_that_follow_it(small_data, tmp_path):
    """The CLI's default augment follows the data (the course's noise: dihedral only), so a
    checkpoint made on other data differs in augment too (was: refused for augment alone, with
    advice to ask for the checkpoint's values, the data named only after that was done)."""
    from n2n_utils.augment import valid_augmentations

    d = _tiny(small_data)
    course = _tiny(small_data)
    course.meta = {"name": "course", "noise": "course (fixed, unknown law)", "noise_params": {},
                   "n_train": 48, "n_val": 16}
    train(course, TrainConfig(epochs=1, augment=valid_augmentations(course.meta["noise"]), **FAST),
          checkpoint=tmp_path / "c.pt")
    ours = TrainConfig(epochs=2, augment=valid_augmentations(d.meta["noise"]), **FAST)
    assert ours.augment != ("dihedral",)  # the two runs' defaults differ, as the CLI's do
    with pytest.raises(ValueError, match=r"c\.pt: cannot resume, it was trained on other data \('course'\): "
                                         r".*name \(checkpoint 'course', asked 'natural32'\).*; "
                                         r"its config differs too, in augment \(checkpoint \('dihedral',\)"):
        train(d, ours, checkpoint=tmp_path / "c.pt", resume=True)
    with pytest.raises(ValueError, match=r"config differs in augment .*ask for the checkpoint's values"):
        train(course, replace(ours, epochs=2), checkpoint=tmp_path / "c.pt", resume=True)  # the same data


def test_auto_precision_falls_back_to_fp32_without_the_private_op(monkeypatch):
    from n2n_utils import config
    from n2n_utils.config import resolve_precision

    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    unknown = dict.fromkeys(("model", "avx2", "avx512", "avx512_bf16", "amx_bf16", "arm_bf16", "cores"))
    monkeypatch.setattr(config, "cpu_info", lambda: unknown)  # no /proc/cpuinfo: torch's probe decides
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda n=native: n, raising=False)
        assert resolve_precision("auto", torch.device("cpu")) == expected

    def missing():
        raise RuntimeError("no such op")

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", missing, raising=False)
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_cosine_schedule_and_its_resume_rule(small_data, tmp_path):
    cosine = TrainConfig(lr=1e-3, lr_schedule="cosine")
    lrs = [learning_rate(cosine, step, 100) for step in (0, 50, 100)]
    assert lrs == pytest.approx([1e-3, 5e-4, 0.0], abs=1e-12)
    assert learning_rate(TrainConfig(lr=1e-3), 50, 100) == 1e-3
    d = _tiny(small_data)
    run = train(d, TrainConfig(epochs=2, lr_schedule="cosine", **FAST), checkpoint=tmp_path / "c.pt")
    steps = 48 // 16
    assert run.history["lr"].tolist() == pytest.approx(  # the last step's lr of each epoch
        [learning_rate(run.config, e * steps - 1, 2 * steps) for e in (1, 2)])
    # a cosine schedule spans all the epochs: more epochs would be another schedule, so no resume
    with pytest.raises(ValueError, match=r"config differs in epochs \(checkpoint 2, asked 3\)"):
        train(d, TrainConfig(epochs=3, lr_schedule="cosine", **FAST), checkpoint=tmp_path / "c.pt", resume=True)
    train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "k.pt")  # constant: epochs may grow
    assert len(train(d, TrainConfig(epochs=2, **FAST), checkpoint=tmp_path / "k.pt", resume=True).history) == 2


def test_eval_every_validates_every_k_epochs_and_after_the_last(small_data):
    history = train(_tiny(small_data), TrainConfig(epochs=3, eval_every=2, **FAST)).history
    assert history["val_psnr"].isna().tolist() == [True, False, False]


def test_checkpoint_name_changes_with_the_run_only():
    meta = {"name": "natural32", "n_train": 100}
    name = checkpoint_name(TrainConfig(), meta)
    for same in (dict(epochs=99), dict(device="cpu"), dict(progress=False), dict(eval_every=5),
                 dict(eval_batch_size=7)):
        assert checkpoint_name(TrainConfig(**same), meta) == name, same
    for other in (dict(lr=1e-3), dict(seed=1), dict(batch_size=16), dict(augment=())):
        assert checkpoint_name(TrainConfig(**other), meta) != name, other
    assert checkpoint_name(TrainConfig(), {**meta, "n_train": 101}) != name


def test_committed_training_run_names_the_checkpoint_this_code_names():
    """results/quick/train_resunet.json names the checkpoint notebook 01 wrote: the same
    config on the same data must give the same name, or a rerun would not resume it."""
    import json

    from n2n_utils.config import ROOT

    made = json.loads((ROOT / "results" / "quick" / "train_resunet.json").read_text())
    assert checkpoint_name(TrainConfig.from_dict(made["config"]), made["data"]) == made["checkpoint"]


def test_log_mse_weighs_every_noise_level_alike():
    """Shrinking a pair's error by 1% is worth 100x more to MSE when the pair is ten times
    noisier, and the same to log_mse: so blind training at sigma 5/255 is not drowned by
    sigma 50/255."""
    from n2n_utils.training import LOSSES

    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    residual = torch.randn(2, 3, 32, 32) * torch.tensor([5 / 255, 50 / 255]).view(2, 1, 1, 1)
    worth = {}
    for name in ("mse", "log_mse"):
        output = (target + residual).requires_grad_()
        LOSSES[name](output, target).backward()
        worth[name] = (output.grad * residual).flatten(1).sum(1)  # -d loss / d(shrink each pair's error)
    assert worth["mse"][1] / worth["mse"][0] == pytest.approx(100, rel=0.1)
    assert worth["log_mse"][1] / worth["log_mse"][0] == pytest.approx(1, rel=0.05)
    assert TrainConfig(loss="log_mse").loss == "log_mse"


def test_log_mse_trains_through_the_engine(small_data):
    result = train(_tiny(small_data, n=96), TrainConfig(epochs=2, loss="log_mse", lr=2e-3, **FAST))
    loss, val = result.history["train_loss"], result.history["val_psnr"]
    assert loss.iloc[1] < loss.iloc[0] < 0  # a log of MSEs below 1
    assert val.iloc[1] > val.iloc[0] + 1.0, result.history


def test_init_starts_from_given_weights_and_is_part_of_the_run(small_data, tmp_path):
    from n2n_utils.runs import NOT_A_RESULT, config_digest
    from n2n_utils.training import build_model

    d = _tiny(small_data)
    first = train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "first.pt")
    # before any step the network is the init's, tensor for tensor, whatever the seed
    start = build_model(TrainConfig(init=str(tmp_path / "first.pt"), seed=7))
    for key, tensor in first.model.state_dict().items():
        assert torch.equal(start.state_dict()[key], tensor), key
    # training on from it continues from where the first run ended, so its loss starts lower
    on = train(d, TrainConfig(epochs=1, init=tmp_path / "first.pt", **FAST), checkpoint=tmp_path / "on.pt")
    assert load_checkpoint(tmp_path / "on.pt")["config"]["init"] == str(tmp_path / "first.pt")  # a Path: its text
    fresh = train(d, TrainConfig(epochs=1, seed=1, **FAST))
    assert on.history["train_loss"].iloc[0] < fresh.history["train_loss"].iloc[0]
    # a checkpoint from before init existed ran from scratch: it resumes as such, and only as such
    old = torch.load(tmp_path / "first.pt", weights_only=True)
    del old["config"]["init"]
    torch.save(old, tmp_path / "old.pt")
    again = train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "old.pt", resume=True)
    assert again.history["epoch"].tolist() == [1] and _same_weights(again.model, first.model)
    with pytest.raises(ValueError, match=r"old\.pt: cannot resume, the config differs in init \(checkpoint None"):
        train(d, TrainConfig(epochs=1, init=tmp_path / "first.pt", **FAST), checkpoint=tmp_path / "old.pt", resume=True)
    # a run from other weights is another run (its own checkpoint name); from scratch, init is
    # left out of the digest, so every earlier run keeps its name
    plain, init = TrainConfig(), TrainConfig(init="resunet-natural32-gaussian25")
    assert checkpoint_name(plain, d.meta) != checkpoint_name(init, d.meta)
    before = {k: v for k, v in plain.to_dict().items() if k not in NOT_A_RESULT | {"init"}}  # the digest before init
    meta_before = {k: v for k, v in d.meta.items() if k != "generation"}  # ... and before metas recorded it
    blob = json.dumps({"config": before, "data": meta_before}, sort_keys=True, default=str)
    assert config_digest(plain, d.meta) == hashlib.sha1(blob.encode()).hexdigest()[:12]
    # another network's weights are refused before any step, naming the file
    with pytest.raises(ValueError, match=r"first\.pt: cannot start from these weights"):
        build_model(TrainConfig(init=str(tmp_path / "first.pt"), final_activation="linear"))
    with pytest.raises(FileNotFoundError, match="no weights 'nowhere'"):
        build_model(TrainConfig(init="nowhere"))


def test_a_run_on_from_weights_records_them_and_their_earlier_rounds(small_data, tmp_path):
    from n2n_utils.weights import export_weights, images_seen, read_weights

    d = _tiny(small_data)
    n = d.meta["n_train"]  # what the cards count (the data's size before _tiny cut it)
    train(d, TrainConfig(epochs=2, **FAST), checkpoint=tmp_path / "ck1.pt")
    export_weights(tmp_path / "ck1.pt", "first", profile="round-1", weights_dir=tmp_path)
    first = read_weights(tmp_path / "first.pt")["card"]
    assert "init" not in first and images_seen(first) == 2 * n
    train(d, TrainConfig(epochs=1, init=tmp_path / "first.pt", **FAST), checkpoint=tmp_path / "ck2.pt")
    export_weights(tmp_path / "ck2.pt", "second", profile="round-2", weights_dir=tmp_path)
    second = read_weights(tmp_path / "second.pt")["card"]
    assert second["init"]["profile"] == "round-1" and second["init"]["epochs"] == 2
    assert (second["init"]["data"], second["init"]["noise"]) == (first["data"], first["noise"])
    assert (second["init"]["rounds"], second["init"]["images_seen"], images_seen(second)) == (1, 2 * n, 3 * n)
    assert second["init"]["all_train_seconds"] == pytest.approx(sum(r["seconds"] for r in first["history"]))
    # the record is taken when the run starts: replacing the earlier file later changes nothing,
    # not even for a run that resumes after the replacement
    train(d, TrainConfig(epochs=1, init=tmp_path / "second.pt", **FAST), checkpoint=tmp_path / "ck3.pt")
    ckpt = torch.load(tmp_path / "ck3.pt", weights_only=True)
    export_weights(tmp_path / "ck1.pt", "second", profile="replaced", weights_dir=tmp_path, overwrite=True)
    resumed = train(d, TrainConfig(epochs=2, init=tmp_path / "second.pt", **FAST), checkpoint=tmp_path / "ck3.pt",
                    resume=True)
    assert resumed.history["epoch"].tolist() == [1, 2]
    third = torch.load(tmp_path / "ck3.pt", weights_only=True)["init"]
    assert third == ckpt["init"] and third["profile"] == "round-2"
    assert (third["rounds"], third["images_seen"]) == (2, 3 * n)


def test_a_resume_needs_neither_the_weights_it_started_from_nor_their_network(small_data, tmp_path):
    """A run that went on from weights is resumed from its checkpoint alone: the weights it started
    from may since be gone, or replaced by another network's (their record is in the checkpoint)."""
    from n2n_utils.weights import export_weights

    d = _tiny(small_data)
    train(d, TrainConfig(epochs=1, **FAST), checkpoint=tmp_path / "ck0.pt")
    export_weights(tmp_path / "ck0.pt", "start", profile="round-1", weights_dir=tmp_path)
    config = TrainConfig(epochs=1, init=str(tmp_path / "start.pt"), **FAST)
    train(d, config, checkpoint=tmp_path / "ck.pt")
    record = torch.load(tmp_path / "ck.pt", weights_only=True)["init"]
    (tmp_path / "start.pt").unlink()  # was: "no weights '.../start.pt'", the run could not go on
    resumed = train(d, replace(config, epochs=2), checkpoint=tmp_path / "ck.pt", resume=True)
    assert resumed.history["epoch"].tolist() == [1, 2]
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["init"] == record
    train(d, TrainConfig(epochs=1, final_activation="linear", **FAST), checkpoint=tmp_path / "lin.pt")
    export_weights(tmp_path / "lin.pt", "start", profile="other", weights_dir=tmp_path)  # another network's
    assert train(d, replace(config, epochs=3), checkpoint=tmp_path / "ck.pt", resume=True).history["epoch"].tolist() \
        == [1, 2, 3]
