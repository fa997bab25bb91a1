# The front door. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= quick

.PHONY: help install reproduce test lint report benchmark readme-figure screenshots clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: any other spec pulls several GB of CUDA packages on Linux
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its dev tools

reproduce: $(STAMP)  ## run the whole study (all notebooks) headlessly; PROFILE=smoke|quick|full
	$(PY) -m n2n_utils.pipeline --profile $(PROFILE)

test: $(STAMP)  ## run the unit tests and every notebook (smoke profile) with nbval
	N2N_PROFILE=smoke $(PY) -m pytest --nbval-lax tests notebooks

lint: $(STAMP)  ## ruff over the package, tests, benchmarks and notebooks
	$(VENV)/bin/ruff check n2n_utils tests benchmarks notebooks

report: $(STAMP)  ## re-render report/report.md from results/
	$(PY) -m n2n_utils.report

benchmark: $(STAMP)  ## measure training/inference throughput (quiet machine please)
	$(PY) -m benchmarks.throughput --config full

readme-figure: $(STAMP)  ## the README's picture: shipped weights vs BM3D on a held-out photo, timed
	$(PY) -m n2n_utils.explore readme

screenshots: $(STAMP)  ## the explorer in JupyterLab, photographed by headless Chromium (needs chromium)
	$(PY) -m n2n_utils.screenshot

clean:  ## remove caches, runs and executed notebooks (keeps committed figures/results)
	rm -rf runs data/cache .pytest_cache .ruff_cache
