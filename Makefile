# Two entry points, each doing its own set-up on first use:
#   make demo   the main job (a small end-to-end demonstration)
#   make test   the test suite
VENV ?= .venv
PYTHON ?= python3
# the CPU build of torch that lies on this kind of machine; any other spec may pull a CUDA build
TORCH_SPEC ?= torch==2.13.0
OUT ?= demo_out
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow bench scaling clean-venv

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/plasticity-sim demo --out $(OUT)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -m "slow or not slow"

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

# issue 8: the learning-rate search, then the part of the depth scan that fits 2 cores
# (v = 4 with P <= 8192, and v = 8 at L = 2); the rest runs unchanged with --scheduler
scaling: $(STAMP)
	$(VENV)/bin/plasticity-sim sweep experiments/scaling_lr.toml --out experiments/results/scaling_lr
	$(VENV)/bin/plasticity-sim sweep experiments/scaling_lr_shallow.toml \
		--out experiments/results/scaling_lr_shallow
	$(VENV)/bin/plasticity-sim sweep experiments/scaling.toml --out experiments/results/scaling \
		--where v=8 --where L=2 --no-plot
	$(VENV)/bin/plasticity-sim sweep experiments/scaling.toml --out experiments/results/scaling \
		--max-P 8192 --where v=4

clean-venv:
	rm -rf $(VENV)
