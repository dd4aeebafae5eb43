# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install, run the end-to-end demo (digits + the descent lecture)
#   make test   create .venv, install, run the test suite
# TORCH_SPEC picks the torch build installed first (default: the CPU build); constraints.txt then
# keeps every later dependency from replacing it.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepwild-installed

.PHONY: demo test install clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepwild demo

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
