"""Speed choices made for the machine at hand: the CPU's features, native precisions, the warning
for an emulated one, and the layout measured once and cached. The other kinds of machine (an
AVX2 CPU, a GPU) are played by monkeypatching what the probes read; nothing here is timed."""

import json
import warnings

import pytest
import torch
from torch import nn

from n2n_utils import config, layout
from n2n_utils.config import (
    SlowPrecisionWarning,
    cpu_kind,
    describe_cpu,
    native_precision,
    parse_cpuinfo,
    resolve_precision,
    slow_precision_message,
)
from n2n_utils.data import DenoisingData
from n2n_utils.models import get_model
from n2n_utils.training import TrainConfig, train

CPU = torch.device("cpu")


def cpuinfo_text(model: str, flags: str, cores: int = 2, threads_per_core: int = 1) -> str:
    """/proc/cpuinfo as Linux writes it on x86: one block per logical CPU (SMT siblings share a core id)."""
    return "\n\n".join(f"processor\t: {i}\nmodel name\t: {model}\nphysical id\t: 0\ncore id\t\t: {i % cores}\n"
                       f"flags\t\t: fpu sse2 {flags}" for i in range(cores * threads_per_core)) + "\n"


AVX2 = parse_cpuinfo(cpuinfo_text("AMD EPYC 7B12", "avx avx2 fma"))
AVX512_BF16 = parse_cpuinfo(cpuinfo_text("AMD EPYC 9B14", "avx2 avx512f avx512bw avx512_bf16", cores=4))


def test_onednn_isa_limit_hides_what_onednn_may_not_use():
    """ONEDNN_MAX_CPU_ISA=AVX2 makes an AVX-512/bf16 CPU compute as an AVX2 one (bf16 emulated):
    the features, hence the precision rule and the benchmark's kind, must say so."""
    as_avx2 = config.limit_features(AVX512_BF16, "AVX2")
    assert cpu_kind(as_avx2) == "avx2" and as_avx2["model"] == AVX512_BF16["model"]
    assert cpu_kind(config.limit_features(AVX512_BF16, "avx512_core")) == "avx512"
    assert cpu_kind(config.limit_features(AVX512_BF16, "AVX512_CORE_BF16")) == "avx512-bf16"
    assert config.limit_features(AVX512_BF16, "ALL") == AVX512_BF16
    assert config.limit_features(AVX2, "AVX512_CORE_AMX") == AVX2  # a limit adds nothing
    assert describe_cpu({**as_avx2, "threads": 4, "isa_limit": "AVX2"}).endswith(
        "AVX-512 no, AVX512-BF16 no, AMX no, oneDNN limited to AVX2")


def as_cpu(monkeypatch, features: dict) -> None:
    """Make this process see the CPU `features` describe."""
    monkeypatch.setattr(config, "cpu_info", lambda: {**features, "threads": 2, "torch_threads": 2})


def test_cpuinfo_is_parsed_into_model_features_and_cores():
    assert AVX2 == {"model": "AMD EPYC 7B12", "avx2": True, "avx512": False, "avx512_bf16": False,
                    "amx_bf16": False, "arm_bf16": False, "cores": 2, "logical": 2}
    assert AVX512_BF16["avx512"] and AVX512_BF16["avx512_bf16"] and AVX512_BF16["cores"] == 4
    assert cpu_kind(AVX2) == "avx2" and cpu_kind(AVX512_BF16) == "avx512-bf16"
    assert cpu_kind({**AVX2, "avx512": True}) == "avx512"
    assert describe_cpu({**AVX2, "threads": 2}) == ("AMD EPYC 7B12, 2 cores / 2 threads, AVX-512 no, "
                                                    "AVX512-BF16 no, AMX no")
    # with SMT there are more threads than cores; an affinity mask leaves this process fewer of them
    smt = parse_cpuinfo(cpuinfo_text("Intel Xeon", "avx2", cores=8, threads_per_core=2))
    assert (smt["cores"], smt["logical"]) == (8, 16)
    assert describe_cpu({**smt, "threads": 16}).startswith("Intel Xeon, 8 cores / 16 threads, ")
    assert describe_cpu({**smt, "threads": 12}).startswith("Intel Xeon, 8 cores / 16 threads (12 usable here), ")
    assert describe_cpu({**AVX2, "cores": 64, "logical": 128, "threads": 3}).startswith(
        "AMD EPYC 7B12, 64 cores / 128 threads (3 usable here), ")
    legacy = {k: v for k, v in AVX2.items() if k != "logical"}  # a results file from before `logical`
    assert describe_cpu({**legacy, "threads": 2}).startswith("AMD EPYC 7B12, 2 cores / 2 threads, ")
    # ... whose `threads` were the usable CPUs: fewer than the cores is a mask, not 3 threads in all
    assert describe_cpu({**legacy, "cores": 64, "threads": 3}).startswith("AMD EPYC 7B12, 64 cores (3 usable here), ")
    assert describe_cpu(None) == "not recorded"
    here = config.cpu_info()  # this machine: whatever it is, every field is there
    assert set(AVX2) | {"threads", "torch_threads", "isa_limit"} == set(here) and here["threads"] >= 1


def test_usable_cores_are_the_affinity_mask_not_the_host(monkeypatch):
    monkeypatch.setattr(config.os, "cpu_count", lambda: 128)  # a cluster node's host ...
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: {4, 5, 6}, raising=False)  # ... a job's 3
    assert config.usable_cores() == 3 and config.cpu_info()["threads"] == 3
    monkeypatch.delattr(config.os, "sched_getaffinity")  # macOS and Windows have no mask
    assert config.usable_cores() == 128


def test_native_bf16_follows_the_cpu_flags_not_onednn(monkeypatch):
    as_cpu(monkeypatch, AVX2)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert native_precision("bf16", CPU) is False  # oneDNN says yes to emulated bf16 too
    assert resolve_precision("auto", CPU) == "fp32"
    as_cpu(monkeypatch, AVX512_BF16)
    assert native_precision("bf16", CPU) is True and resolve_precision("auto", CPU) == "bf16"
    assert native_precision("fp32", CPU) is True


def test_without_flags_the_torch_probe_decides_and_its_absence_means_fp32(monkeypatch):
    unknown = {key: None for key in AVX2} | {"model": None}
    as_cpu(monkeypatch, unknown)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert native_precision("bf16", CPU) is True

    def missing():
        raise RuntimeError("no such op")

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", missing, raising=False)
    assert native_precision("bf16", CPU) is None
    assert resolve_precision("auto", CPU) == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not known to be emulated: no warning
        assert resolve_precision("bf16", CPU) == "bf16"


def test_cuda_precisions_without_a_gpu(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert native_precision("fp16", cuda) is True and native_precision("bf16", cuda) is False
    assert resolve_precision("auto", cuda) == "fp32"
    assert "Tesla V100" in slow_precision_message("bf16", cuda) and slow_precision_message("fp16", cuda) is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (6, 1))  # consumer Pascal
    assert slow_precision_message("fp16", cuda) is not None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_precision("auto", cuda) == "bf16" and slow_precision_message("bf16", cuda) is None


def _tiny_data(n: int = 16) -> DenoisingData:
    pairs = torch.randint(0, 256, (3, n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return DenoisingData(pairs[0], pairs[1], pairs[2, :4], pairs[2, :4], meta={"name": "random"})


def test_emulated_bf16_warns_once_with_its_cost_and_auto_does_not(monkeypatch, tmp_path):
    monkeypatch.setattr(layout, "cache_path", lambda: tmp_path / "layout.json")
    as_cpu(monkeypatch, AVX2)
    with pytest.warns(SlowPrecisionWarning) as caught:
        train(_tiny_data(), TrainConfig(epochs=1, batch_size=8, precision="bf16", channels_last=True, progress=False))
    (message,) = [str(w.message) for w in caught]
    assert "\n" not in message and "AMD EPYC 7B12" in message and "10x slower than fp32" in message
    assert "precision='auto'" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPrecisionWarning)
        result = train(_tiny_data(), TrainConfig(epochs=1, batch_size=8, channels_last=True, progress=False))
    assert result.info["precision"] == "fp32"
    as_cpu(monkeypatch, AVX512_BF16)
    assert slow_precision_message("bf16", CPU) is None and slow_precision_message("fp16", CPU) is None


def test_cli_says_the_cost_in_one_line_once(monkeypatch, tmp_path, capsys):
    from n2n_utils.__main__ import main

    monkeypatch.setattr(layout, "cache_path", lambda: tmp_path / "layout.json")
    monkeypatch.setattr(layout, "time_layouts", lambda *args: {"channels_last": 1.0, "NCHW": 1.0})
    as_cpu(monkeypatch, AVX2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPrecisionWarning)  # the engine's warning would fail the call
        code = main(["train", "--checkpoint", str(tmp_path / "run.pt"), "--n-train", "8", "--n-val", "4",
                     "--epochs", "1", "--precision", "bf16", "--augment", "none"])
    err = capsys.readouterr().err
    assert code == 0, err
    warned = [line for line in err.splitlines() if "warning" in line.lower()]
    assert warned == [f"n2n: warning: {slow_precision_message('bf16', CPU)}"]


# --------------------------------------------------------------------------- layout


@pytest.fixture
def probe(monkeypatch, tmp_path):
    """Layout measurements answered from `probe.speeds` and counted, in a fresh cache."""
    monkeypatch.setattr(layout, "cache_path", lambda: tmp_path / "layout.json")

    class Probe:
        speeds = {"channels_last": 100.0, "NCHW": 100.0}
        calls: list[int] = []

    def fake(model, shape, precision, batch_size, device):
        Probe.calls.append(batch_size)
        return dict(Probe.speeds)

    monkeypatch.setattr(layout, "time_layouts", fake)
    return Probe


def _choose(batch_size: int, precision: str = "fp32") -> str:
    return layout.fastest_layout(get_model("resunet"), "resunet", (3, 32, 32), precision, batch_size, CPU)


def test_layout_is_measured_once_per_bucket_and_cached(probe):
    probe.speeds = {"channels_last": 55.0, "NCHW": 62.0}  # the AVX2 CPU at batch 8, fp32 (issue 16)
    assert _choose(8) == "NCHW" and _choose(7) == "NCHW" and probe.calls == [8]  # 7 shares the bucket of 8
    probe.speeds = {"channels_last": 81.0, "NCHW": 80.0}
    assert _choose(32) == "channels_last" and _choose(200) == "channels_last" and probe.calls == [8, 32, 64]
    assert _choose(8, "bf16") == "channels_last" and len(probe.calls) == 4  # each precision apart
    cache = json.loads(layout.cache_path().read_text())
    entry = cache[layout.probe_key("resunet", (3, 32, 32), "fp32", 8)]
    assert entry["layout"] == "NCHW" and entry["images_per_s"] == {"channels_last": 55.0, "NCHW": 62.0}
    assert str(torch.__version__) in next(iter(cache))


def test_a_tie_keeps_channels_last_and_a_bad_cache_is_measured_again(probe):
    probe.speeds = {"channels_last": 100.0, "NCHW": 102.0}  # within the margin
    assert _choose(8) == "channels_last"
    layout.cache_path().write_text("{not json")
    probe.speeds = {"channels_last": 100.0, "NCHW": 120.0}
    assert _choose(8) == "NCHW" and len(probe.calls) == 2
    assert layout.fastest_layout(get_model("resunet"), "resunet", (3, 32, 32), "bf16", 8,
                                 torch.device("cuda")) == "channels_last"  # not measured off the CPU
    assert len(probe.calls) == 2


def test_train_uses_the_measured_layout_and_resumes_where_it_measured_otherwise(probe, tmp_path):
    probe.speeds = {"channels_last": 50.0, "NCHW": 60.0}
    ckpt = tmp_path / "run.pt"
    result = train(_tiny_data(), TrainConfig(epochs=1, batch_size=8, progress=False), checkpoint=ckpt)
    assert result.info["layout"] == "NCHW"
    assert all(p.is_contiguous() for p in result.model.parameters())
    assert TrainConfig().channels_last == "auto"
    layout.cache_path().unlink()  # another machine, where channels_last measures faster
    probe.speeds = {"channels_last": 60.0, "NCHW": 50.0}
    more = train(_tiny_data(), TrainConfig(epochs=2, batch_size=8, progress=False), checkpoint=ckpt, resume=True)
    assert more.info["layout"] == "channels_last" and more.history["epoch"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="channels_last='fast'; choose one of"):
        TrainConfig(channels_last="fast")


def test_time_layouts_measures_both_and_leaves_model_and_random_state_alone(monkeypatch):
    monkeypatch.setattr(layout, "PROBE_PIXELS", 2 * 32 * 32)
    model = get_model("resunet")
    before = [p.detach().clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    speeds = layout.time_layouts(model, (3, 32, 32), "fp32", 2, CPU)
    assert set(speeds) == {"channels_last", "NCHW"} and all(v > 0 for v in speeds.values())
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(a, b) and b.grad is None for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.is_contiguous() for p in model.parameters())


class _CountingNet(nn.Module):
    """A one-convolution network that notes the pixels of every batch it sees (all copies alike)."""
    pixels: list[int] = []

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _CountingNet.pixels.append(x.shape[0] * x.shape[-2] * x.shape[-1])
        return self.conv(x)


def test_larger_crops_are_timed_on_as_many_pixels_not_as_many_images():
    # was: 32 images a chunk whatever their size, so --crop 128 timed 16 times the pixels (a minute on AVX2)
    seen = {}
    for side in (32, 64, 128):
        _CountingNet.pixels = []
        layout.time_layouts(_CountingNet(), (3, side, side), "fp32", 8, CPU)
        seen[side] = sum(_CountingNet.pixels)
    assert seen[64] == seen[32]
    assert seen[128] == 2 * 4 * 8 * 128 * 128  # one step at least: a batch of 8 per chunk, 4 chunks, 2 layouts
