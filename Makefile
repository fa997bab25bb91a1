# The front door. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick
DEVICE ?= auto
MINUTES ?=

.PHONY: help install lock reproduce test lint report benchmark wheels readme-figure screenshots clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, at the locked version. On Linux, PyPI's build brings several GB of CUDA packages:
	# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu gets the CPU build (2.13.0+cpu) instead
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the locked versions, the package and its dev tools

lock: $(STAMP)  ## refresh requirements.lock (newest versions pyproject allows) and environment.yml
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python $(PY) --no-annotate --no-header \
		-o requirements.lock
	$(PY) tools/lock.py

reproduce: $(STAMP)  ## rerun the study into reproduced/<profile>-<commit>/, print drift; PROFILE=smoke|quick|full DEVICE= MINUTES=
	$(PY) -m n2n_utils.pipeline --profile $(PROFILE) --device $(DEVICE) $(if $(MINUTES),--minutes $(MINUTES))

test: $(STAMP)  ## run the unit tests and every notebook (smoke profile) with nbval
	N2N_PROFILE=smoke $(PY) -m pytest --nbval-lax tests notebooks

lint: $(STAMP)  ## ruff over the package, tests, benchmarks and notebooks
	$(VENV)/bin/ruff check n2n_utils tests benchmarks notebooks

report: $(STAMP)  ## re-render report/report.md from results/
	$(PY) -m n2n_utils.report

benchmark: $(STAMP)  ## measure training/inference throughput (quiet machine please)
	$(PY) -m benchmarks.throughput --config full

# What benchmarks/gpu_run.sh installs offline: pure-Python wheels and manylinux ones for CPython 3.10-3.12
WHEELS_DIR ?= wheels
OFFLINE_PACKAGES := papermill nbclient nbformat ipykernel bm3d ipywidgets
wheels:  ## download the wheels gpu_run.sh installs offline (WHEELS_DIR, default wheels/)
	for v in 3.10 3.11 3.12; do \
	    $(PYTHON) -m pip download --quiet --dest $(WHEELS_DIR) --only-binary=:all: --python-version $$v \
	        --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
	        --platform manylinux_2_28_x86_64 --platform any $(OFFLINE_PACKAGES) || exit 1; \
	done
	@ls $(WHEELS_DIR) | wc -l | xargs echo "wheels in $(WHEELS_DIR):"

readme-figure: $(STAMP)  ## the README's picture: shipped weights vs BM3D on a held-out photo, timed
	$(PY) -m n2n_utils.explore readme

screenshots: $(STAMP)  ## the explorer in JupyterLab, photographed by headless Chromium (needs chromium)
	$(PY) -m n2n_utils.screenshot

clean:  ## remove caches, runs, executed notebooks and reproductions (keeps committed figures/results)
	rm -rf runs reproduced data/cache .pytest_cache .ruff_cache
