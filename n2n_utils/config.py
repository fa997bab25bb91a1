"""Where things live, and which device runs them. Paths live here and nowhere else.

Every directory can be moved with an environment variable, so a test or a CI run can write
into a temporary folder without touching the repository's committed results.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("N2N_CACHE_DIR", ROOT / "data" / "cache"))  # generated datasets
COMMITTED_RESULTS_DIR = ROOT / "results"  # the results in git, whatever N2N_OUTPUT_ROOT says
REPRODUCED_DIR = ROOT / "reproduced"  # `make reproduce` writes a fresh OUTPUT_ROOT under here
# Where a run writes runs/, results/, figures/ and report/: the repository, or another folder
# laid out the same way (a reproduction: see n2n_utils.pipeline). Read here and nowhere else.
OUTPUT_ROOT = Path(os.environ.get("N2N_OUTPUT_ROOT") or ROOT)
RUNS_DIR = Path(os.environ.get("N2N_RUNS_DIR", OUTPUT_ROOT / "runs"))  # checkpoints, executed notebooks
RESULTS_DIR = Path(os.environ.get("N2N_RESULTS_DIR", OUTPUT_ROOT / "results"))  # CSV/JSON, committed
FIGURES_DIR = Path(os.environ.get("N2N_FIGURES_DIR", OUTPUT_ROOT / "figures"))  # PNG/PDF, committed
REPORT_DIR = OUTPUT_ROOT / "report"
NOTEBOOKS_DIR = ROOT / "notebooks"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # shipped checkpoints
BENCHMARK_RESULTS_DIR = ROOT / "benchmarks" / "results"  # benchmark JSON, committed


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn "auto" into the best device present (cuda > mps > cpu); pass anything else through."""
    if isinstance(device, torch.device):
        return device
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """A human name for a device, for results files: 'cpu (2 threads)', 'cuda (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


CPUINFO = Path("/proc/cpuinfo")  # Linux; elsewhere the CPU's features are unknown (None)
# What asking for a precision the device does not compute natively costs, as measured (training
# the ResUNet on 32x32 pairs; the benchmark records it per machine, benchmarks/).
EMULATED_COST = {
    "cpu": "about 10x slower than fp32 (6.4 vs 62 images/s on a 2-core AVX2 AMD EPYC, issue 16)",
    "cuda": "slower than fp32 on this GPU",
}


class OptionError(ValueError):
    """A value refused for the argument `name` (the rule, written once, where the value is
    used): reads 'seed=-1: 0 or more'; a command line shows it as its option,
    '--seed -1: 0 or more' (`as_option`), and exits with status 2 as argparse does."""

    def __init__(self, name: str, value: object, problem: str):
        self.name, self.value, self.problem = name, f"{value:g}" if isinstance(value, float) else value, problem
        super().__init__(f"{name}={self.value}: {problem}")

    def as_option(self) -> str:
        return f"--{self.name.replace('_', '-')} {self.value}: {self.problem}"


class SlowPrecisionWarning(UserWarning):
    """A precision was asked for that this device only emulates: correct, but slow."""


def parse_cpuinfo(text: str) -> dict:
    """The CPU's model name, the features that decide which precision and layout are fast, and
    its physical core count and logical CPU count (more than the cores under SMT), from the text
    of /proc/cpuinfo (x86 'flags' or ARM 'Features'; one block per logical CPU)."""
    fields: dict[str, str] = {}
    cores, logical = set(), 0
    for block in text.strip().split("\n\n"):
        entry = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines())}
        fields = fields or entry
        logical += "processor" in entry
        if "core id" in entry:
            cores.add((entry.get("physical id", "0"), entry["core id"]))
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"model": fields.get("model name") or fields.get("Hardware") or platform.processor() or None,
            "avx2": "avx2" in flags, "avx512": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags, "arm_bf16": "bf16" in flags,
            "cores": len(cores) or None, "logical": logical or None}


def limit_features(features: dict, isa_limit: str | None) -> dict:
    """The features oneDNN may use under ONEDNN_MAX_CPU_ISA=`isa_limit` (its names: AVX2,
    AVX2_VNNI, AVX512_CORE, AVX512_CORE_BF16, AVX512_CORE_AMX, ..., ALL): what the CPU has, less
    what the limit forbids. With ONEDNN_MAX_CPU_ISA=AVX2 (and ATEN_CPU_CAPABILITY=avx2) an
    AVX-512/bf16 CPU computes like an AVX2-only one, bf16 emulated: a stand-in for that kind."""
    if not isa_limit or isa_limit.upper() in ("ALL", "DEFAULT"):
        return features
    limit = isa_limit.upper()
    allowed = {"avx512": "AVX512" in limit or "AVX10" in limit,
               "avx512_bf16": any(k in limit for k in ("BF16", "AMX", "FP16", "AVX10")),
               "amx_bf16": "AMX" in limit}
    return {**features, **{k: features[k] and allowed[k] for k in allowed if features.get(k) is not None}}


@functools.cache
def _cpu_features() -> dict:
    try:
        features = parse_cpuinfo(CPUINFO.read_text())
    except OSError:
        features = {"model": platform.processor() or platform.machine() or None, "avx2": None, "avx512": None,
                    "avx512_bf16": None, "amx_bf16": None, "arm_bf16": None, "cores": None,
                    "logical": os.cpu_count()}
    isa_limit = os.environ.get("ONEDNN_MAX_CPU_ISA") or None
    return {**limit_features(features, isa_limit), "isa_limit": isa_limit}


def usable_cores() -> int:
    """The logical CPUs this process may run on (1 or more): its affinity mask where the OS has
    one (a cluster job or a container pinned to a few cores sees those, not the host's count),
    else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_info() -> dict:
    """The CPU this process runs on (see parse_cpuinfo), plus the logical CPUs it may use
    (usable_cores) and torch's thread count; the feature flags are None where /proc/cpuinfo
    cannot be read, and leave out what ONEDNN_MAX_CPU_ISA forbids (`isa_limit`, None when unset:
    see limit_features)."""
    return {**_cpu_features(), "threads": usable_cores(), "torch_threads": torch.get_num_threads()}


def cpu_kind(info: dict | None = None) -> str:
    """A short name for the CPU's speed class: 'avx512-bf16', 'avx512', 'avx2', 'bf16' (an ARM
    core with bf16) or 'other'."""
    info = info or cpu_info()
    if info["avx512_bf16"] or info["amx_bf16"] or info["arm_bf16"]:
        return "avx512-bf16" if info["avx512"] else "bf16"
    return "avx512" if info["avx512"] else "avx2" if info["avx2"] else "other"


def describe_cpu(info: dict | None) -> str:
    """One line naming a CPU and the features that decide its speed, from a cpu_info() record
    (as a results file keeps it): 'AMD EPYC, 2 cores / 2 threads, AVX-512 yes, AVX512-BF16 yes, AMX no'."""
    if not info:
        return "not recorded"
    said = {True: "yes", False: "no"}
    flags = ", ".join(f"{name} {said.get(info.get(key), 'unknown')}"
                      for name, key in (("AVX-512", "avx512"), ("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_bf16")))
    limited = f", oneDNN limited to {info['isa_limit']}" if info.get("isa_limit") else ""
    cores, usable, logical = info.get("cores"), info.get("threads"), info.get("logical")
    # under an affinity mask (a cluster job, a pinned container) this process uses fewer logical CPUs than there are
    if logical:
        masked = f" ({usable} usable here)" if usable and usable < logical else ""
        count = f"{cores or '?'} cores / {logical} threads{masked}"
    elif cores and usable and usable < cores:  # a record from before `logical`, under a mask
        count = f"{cores} cores ({usable} usable here)"
    else:  # a record from before `logical`: its usable CPUs were all there were
        count = f"{cores or '?'} cores / {usable or '?'} threads"
    return f"{info.get('model') or 'unknown CPU'}, {count}, {flags}{limited}"


def native_precision(precision: str, device: torch.device) -> bool | None:
    """Whether `device` computes `precision` ('fp32', 'bf16', 'fp16') in hardware at full speed:
    a CPU with AVX512-BF16 or AMX (or an ARM bf16 core), a CUDA GPU from Ampere (bf16) or Volta
    (fp16) on. None where it is not known (MPS, or a CPU whose features cannot be read and whose
    torch build has no probe). The CPU's flags come first: oneDNN's own check (torch's probe)
    can say yes to an AVX-512 CPU without AVX512-BF16, where bf16 is emulated."""
    if precision == "fp32":
        return True
    if device.type == "cuda":
        if precision == "bf16":
            return torch.cuda.is_bf16_supported(including_emulation=False)
        return torch.cuda.get_device_capability(device) >= (7, 0)
    if device.type != "cpu":
        return None
    if precision == "fp16":
        return False
    info = cpu_info()
    if info["avx512_bf16"] is not None:
        return bool(info["avx512_bf16"] or info["amx_bf16"] or info["arm_bf16"])
    try:  # a private op: a build without it cannot tell
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


def slow_precision_message(precision: str, device: torch.device) -> str | None:
    """One line saying what `precision` costs on `device` when the device only emulates it;
    None when it is native (or not known to be emulated)."""
    if precision in ("auto", "fp32") or (device.type == "cpu" and precision == "fp16"):
        return None  # fp16 on a CPU is refused outright by autocast()
    if native_precision(precision, device) is not False:
        return None
    where = (f"this CPU ({cpu_info()['model']}) has no AVX512-BF16 or AMX" if device.type == "cpu"
             else f"this GPU ({torch.cuda.get_device_name(device)}) has no native {precision}")
    return (f"precision={precision!r} is emulated here, {where}: {EMULATED_COST[device.type]}; "
            "precision='auto' picks the fastest")


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the device computes bf16 natively (native_precision), else 'fp32'.
    Other values pass through, with a SlowPrecisionWarning where the device only emulates them."""
    if precision != "auto":
        if message := slow_precision_message(precision, device):
            warnings.warn(message, SlowPrecisionWarning, stacklevel=3)
        return precision
    return "bf16" if native_precision("bf16", device) else "fp32"


def autocast(device: torch.device, precision: str):
    """An autocast context for 'bf16'/'fp16' (resolve 'auto' first), or a no-op for 'fp32'."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs CUDA; use 'bf16' on the CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
