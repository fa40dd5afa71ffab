# The two commands of the README: `make run` (set up + main job) and `make test` (set up + tests).
# Everything goes into a local virtual environment, so a fresh clone needs nothing installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch is installed before anything else asks for `torch`, so no CUDA build is pulled.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= dev,ray,spacy,trl,skyrl,verifiers,gem,lora,io,notebooks
STAMP := $(VENV)/.proxmo-installed

.PHONY: setup run test clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(TORCH_SPEC)
	$(PIP) install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

# The main job: train a policy on the embedded WebShop with ProxMO credit, 20 iterations: about 30 s after
# setup on 2 idle cores (~1 s per iteration); on busy cores ~1 min of CPU time and minutes of wall time
# (measured: 56 s CPU / 6 min wall with ~15 processes on the 2 cores; 12 min at load average 25).
# --resume makes it idempotent: a second `make run` continues or re-reports the same run folder.
RUN_OUT ?= runs/main-webshop-proxmo
run: setup
	$(VENV)/bin/proxmo train --env proxmo/WebShop-v0 --method proxmo --seed 0 --out $(RUN_OUT) --resume

test: setup
	$(PY) -m pytest -q --timeout=900 --durations=15

clean-venv:
	rm -rf $(VENV)
