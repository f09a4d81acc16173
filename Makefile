# `make demo` and `make test` are the two set-up commands: each creates .venv (python3 + pip; uv and
# poetry would download ~3 GB of torch) and installs the project with the verified constraints first.
PYTHON ?= python3
VENV ?= .venv
DALI ?= cuda13
EXTRAS ?= $(DALI),dev,export
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(DALI)
DEMO_DIR ?= data/demo
PYTEST_ARGS ?=

.PHONY: help venv demo test test-slow test-multinode test-all test-gpu gpu-check lint format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install the project

demo: $(STAMP)  ## run the whole pipeline on the embedded synthetic demo dataset (CPU)
	$(VENV)/bin/fer demo --out $(DEMO_DIR)

test: $(STAMP)  ## the fast test suite (no `slow`, no `multinode`, `gpu` auto-skipped without CUDA)
	$(PY) -m pytest -m "not slow and not multinode" $(PYTEST_ARGS)

test-slow: $(STAMP)  ## only the `slow` tests (real SLURM/Ray daemons, multi-process DDP); .ci/run runs them
	$(PY) -m pytest -m "slow and not multinode" $(PYTEST_ARGS)

test-multinode: $(STAMP)  ## the `multinode` tests: a 2-host SLURM + Ray cluster in network namespaces (root)
	$(PY) -m pytest -m multinode $(PYTEST_ARGS)

test-all: $(STAMP)  ## every test including `slow` and `multinode` ones (cluster daemons, multi-process training)
	$(PY) -m pytest $(PYTEST_ARGS)

# No venv stamp: the GPU machine is offline with its own Python (docs/GPU.md); the venv is used when present.
GPU_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_OUT ?= gpu-check

test-gpu:  ## only the `gpu` tests (need CUDA; DALI ones need the DALI wheel); values they measure printed
	$(GPU_PY) -m pytest -m gpu tests/test_gpu_train.py tests/test_gpu_predict.py tests/test_gpu_dali.py \
		tests/test_gpu_ddp.py -rA -s $(PYTEST_ARGS)

gpu-check:  ## the whole GPU check (tests + GPU benchmarks + summary) into $(GPU_OUT)/; WHEELHOUSE=DIR to install
	PYTHON=$(GPU_PY) scripts/gpu_check.sh $(GPU_OUT) $(if $(WHEELHOUSE),--wheelhouse $(WHEELHOUSE))

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .

bench: $(STAMP)  ## every benchmark, results into docs/BENCHMARKS.md
	$(VENV)/bin/fer bench all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache data/demo
