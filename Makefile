# Two entry points, each doing its own set-up on first use:
#   make demo   the main job (a small end-to-end demonstration)
#   make test   the test suite
VENV ?= .venv
PYTHON ?= python3
# pip arguments for torch, e.g. "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
# for the CPU build from pytorch.org; installed before the package, so the range it asks adds nothing
TORCH_SPEC ?= torch==2.13.0
OUT ?= demo_out
STAMP := $(VENV)/.installed-stamp

.PHONY: demo demo-figures test test-slow bench gpu-check searches scaling scaling-v8 experiments clean-venv

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/plasticity-sim demo --out $(OUT)

# The figures the README shows: the demo's (a sweep) and those of one train run
DEMO_RUN = train --rule dfa --v 4 --n-classes 4 --m 4 --s 2 --L 3 --P 1024 --seeds 0-2 \
	--alignment-every 20 --plasticity-every 50 --sensitivity-samples 2000 \
	--representation-samples 500 --record-weights --quiet
demo-figures: $(STAMP)
	$(VENV)/bin/plasticity-sim demo --out $(OUT) --quiet
	mkdir -p docs/demo/run
	cp $(OUT)/accuracy.png $(OUT)/p_star.png docs/demo/
	$(VENV)/bin/plasticity-sim $(DEMO_RUN) --out $(OUT)/dfa_run.nc
	$(VENV)/bin/plasticity-sim plot $(OUT)/dfa_run.nc --out docs/demo/run --format png

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest -m "slow or not slow"

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

# On a machine with a CUDA device: CUDA tests, engine benchmark, packed slice vs the CPU (about 5 min)
gpu-check: $(STAMP)
	PYTHON=$(VENV)/bin/python bash benchmarks/gpu_check.sh

SIM = $(VENV)/bin/plasticity-sim
RESULTS = experiments/results

# The searches behind the defaults: validation accuracy, seeds 100-102 (docs/training.md, "The protocol")
searches: $(STAMP)
	$(SIM) sweep experiments/views_k.toml --out $(RESULTS)/views_k
	$(SIM) sweep experiments/views_k_deep.toml --out $(RESULTS)/views_k_deep
	$(SIM) sweep experiments/learning_rates.toml --out $(RESULTS)/learning_rates
	$(SIM) sweep experiments/learning_rates_more.toml --out $(RESULTS)/learning_rates_more
	$(SIM) sweep experiments/ssl_published_search.toml --out $(RESULTS)/ssl_published_search
	$(SIM) sweep experiments/lpl_published_training.toml --out $(RESULTS)/lpl_published_training
	$(SIM) sweep experiments/online_search.toml --out $(RESULTS)/online_search

# The depth scan: the part that fits 2 cores (v = 4 with P <= 8192, and v = 8 at L = 2);
# the rest runs unchanged with --scheduler
scaling: $(STAMP)
	$(SIM) sweep experiments/scaling.toml --out $(RESULTS)/scaling --where v=8 --where L=2 --no-plot
	$(SIM) sweep experiments/scaling.toml --out $(RESULTS)/scaling --max-P 4096 --where v=4

# v = n_c = m = 8 at L = 3 (n_c m^L = 4096, P up to 64 x that): a GPU's or a cluster's job.
# The sweep prints its cost before it starts; SWEEP_ARGS chooses where it runs, e.g.
#   make scaling-v8 SWEEP_ARGS="--device cuda --max-members auto"
#   make scaling-v8 SWEEP_ARGS="--scheduler tcp://host:8786"
# and `plasticity-sim sweep ... --dry-run` says what it would cost in hours on this machine.
scaling-v8: $(STAMP)
	$(SIM) sweep experiments/scaling.toml --out $(RESULTS)/scaling_v8_L3 --where v=8 --where L=3 $(SWEEP_ARGS)

# Every committed result, in the order their choices allow (hours on 2 cores)
experiments: searches
	for e in sample_complexity masking sensitivity representation self_supervised_uniform \
			self_supervised_published self_supervised_published_v8 self_supervised_published_L4 \
			online; do \
		$(SIM) sweep experiments/$$e.toml --out $(RESULTS)/$$e || exit 1; done
	$(MAKE) scaling

clean-venv:
	rm -rf $(VENV)
