# Two entry points, each doing its own set-up on first use:
#   make demo   the main job (a small end-to-end demonstration)
#   make test   the test suite
VENV ?= .venv
PYTHON ?= python3
# the CPU build of torch that lies on this kind of machine; any other spec may pull a CUDA build
TORCH_SPEC ?= torch==2.13.0
OUT ?= demo_out
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow bench clean-venv

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

clean-venv:
	rm -rf $(VENV)
