# Two entry points, each doing its own set-up on first use:
#   make demo   the main job (a small end-to-end demonstration)
#   make test   the test suite
VENV ?= .venv
PYTHON ?= python3
# the CPU build of torch that lies on this kind of machine; any other spec may pull a CUDA build
TORCH_SPEC ?= torch==2.13.0
OUT ?= demo_out
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow bench searches scaling experiments clean-venv

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

SIM = $(VENV)/bin/plasticity-sim
RESULTS = experiments/results

# The searches behind the defaults: validation accuracy, seeds 100-102 (README, "The protocol")
searches: $(STAMP)
	$(SIM) sweep experiments/views_k.toml --out $(RESULTS)/views_k
	$(SIM) sweep experiments/views_k_deep.toml --out $(RESULTS)/views_k_deep
	$(SIM) sweep experiments/learning_rates.toml --out $(RESULTS)/learning_rates
	$(SIM) sweep experiments/learning_rates_more.toml --out $(RESULTS)/learning_rates_more
	$(SIM) sweep experiments/ssl_published_search.toml --out $(RESULTS)/ssl_published_search

# The depth scan: the part that fits 2 cores (v = 4 with P <= 8192, and v = 8 at L = 2);
# the rest runs unchanged with --scheduler
scaling: $(STAMP)
	$(SIM) sweep experiments/scaling.toml --out $(RESULTS)/scaling --where v=8 --where L=2 --no-plot
	$(SIM) sweep experiments/scaling.toml --out $(RESULTS)/scaling --max-P 4096 --where v=4

# Every committed result, in the order their choices allow (hours on 2 cores)
experiments: searches
	for e in sample_complexity masking sensitivity representation self_supervised_uniform \
			self_supervised_published self_supervised_published_v8 self_supervised_structured; do \
		$(SIM) sweep experiments/$$e.toml --out $(RESULTS)/$$e || exit 1; done
	$(MAKE) scaling

clean-venv:
	rm -rf $(VENV)
