#!/usr/bin/env bash
# The whole GPU study, offline, in one go (issue 14):
#
#   benchmarks/gpu_run.sh OUT_DIR [WHEELS_DIR] [--minutes M] [--device cpu]
#
# For a machine with a CUDA build of PyTorch (and pandas, matplotlib, seaborn, scikit-image,
# scikit-learn, tqdm) but no network: whatever of papermill, nbclient, nbformat, ipykernel and
# bm3d is missing is installed from WHEELS_DIR with pip's --no-index (`make wheels` fills that
# folder on a machine with network). Then benchmarks/gpu_run.py runs the stages (benchmark, full
# profile, retraining of the shipped weights), each appended to OUT_DIR/gpu-run.tar as it ends,
# with OUT_DIR/gpu-run.log. --minutes: budget, default 8, hard wall 10 (installing counts).
# --device cpu: a dry run of every stage at CI size. PYTHON picks the interpreter (default python3).
set -euo pipefail

usage="usage: $0 OUT_DIR [WHEELS_DIR] [--minutes M] [--device cpu|cuda|auto]"
started=$(date +%s)
out="" wheels="" minutes=8 device=cuda
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="${2:?$usage}"; shift 2 ;;
        --device) device="${2:?$usage}"; shift 2 ;;
        -h|--help) echo "$usage"; exit 0 ;;
        -*) echo "$0: unknown option $1; $usage" >&2; exit 2 ;;
        *) if [ -z "$out" ]; then out="$1"; elif [ -z "$wheels" ]; then wheels="$1";
           else echo "$0: too many arguments; $usage" >&2; exit 2; fi; shift ;;
    esac
done
[ -n "$out" ] || { echo "$usage" >&2; exit 2; }
python="${PYTHON:-python3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/gpu-run.log"
: > "$log"

# The budget (minutes, at most the hard wall of 10), checked before anything runs.
"$python" -c "import sys; m = float(sys.argv[1]); assert 0 < m <= 10, m" "$minutes" \
    || { echo "$0: --minutes $minutes: must be more than 0 and at most 10 (the hard wall)" >&2; exit 2; }

# found without importing them (importing ipykernel and bm3d takes seconds)
read -r -a missing <<< "$("$python" -c "import importlib.util as u
print(' '.join(m for m in ('papermill', 'nbclient', 'nbformat', 'ipykernel', 'bm3d', 'ipywidgets') if u.find_spec(m) is None))")"
if [ ${#missing[@]} -gt 0 ]; then
    if [ -z "$wheels" ]; then
        echo "$0: missing ${missing[*]}; give WHEELS_DIR (made by 'make wheels')" | tee -a "$log" >&2
        exit 1
    fi
    echo "installing ${missing[*]} from $wheels" | tee -a "$log"
    "$python" -m pip install --quiet --no-index --find-links "$wheels" "${missing[@]}" 2>&1 | tee -a "$log"
fi

# the stages plan to end within --minutes; timeout is only the 10-minute hard wall behind that plan
# (a dry run, --device cpu, is stopped by nothing else: its stages run to their end)
wall=600
left=$(( wall - ($(date +%s) - started) ))
[ "$left" -ge 1 ] || left=1
cd "$root"
# timeout: the hard wall for the stages too, with 20 s to stop (the archive holds what ended).
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec timeout --kill-after=20 "$left" \
    "$python" -m benchmarks.gpu_run "$out" --minutes "$minutes" --device "$device" --started "$started"
