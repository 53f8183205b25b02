# `make test` and `make serve` bootstrap everything from nothing: a .venv with the
# CPU build of torch (constraints/cpu.txt) and every extra the tests exercise.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := train,mcmc,serve,optuna,ray,lightning,dev

.PHONY: test test-fast lint serve bench train-cpu export prior-picture clean

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/cpu.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

test: lint
	$(PY) -m pytest

# The edit loop: everything but the slow tests (torch.compile, torchrun, MCMC fits, export).
test-fast: lint
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

serve: $(STAMP)
	$(PY) -m serve

bench: $(STAMP)
	$(PY) benchmarks/prior_speed.py
	$(PY) benchmarks/inference_speed.py
	$(PY) benchmarks/pfn_quality.py
	$(PY) benchmarks/http_load.py

# Retrain and re-ship the default model on CPU (about an hour on 2 cores; resumable).
train-cpu: $(STAMP)
	$(PY) -m training.train --preset cpu --out runs/cpu

export: $(STAMP)
	$(PY) -m training.export runs/cpu/checkpoint.pt --out lcpfn/models/default.onnx --name lcpfn-cpu

prior-picture: $(STAMP)
	$(PY) -m priors.show --out docs/prior.png

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
