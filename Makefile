# `make test` and `make serve` bootstrap everything from nothing: a .venv with the
# CPU build of torch (constraints/cpu.txt) and every extra the tests exercise.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
EXTRAS := train,mcmc,serve,optuna,dev

.PHONY: test serve bench prior-picture clean

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints/cpu.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

serve: $(STAMP)
	$(PY) -m serve

bench: $(STAMP)
	$(PY) benchmarks/prior_speed.py

prior-picture: $(STAMP)
	$(PY) -m priors.show --out docs/prior.png

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
