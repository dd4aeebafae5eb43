# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install, run the end-to-end demo (digits + the descent lecture)
#   make test   create .venv, install, run the test suite
# TORCH_SPEC picks the torch build installed first (default: the CPU build); constraints.txt then
# keeps every later dependency from replacing it. `install` also adds the Debian font packages that
# newspaper pages are set in, once, where apt-get runs as root; elsewhere it says so and pages fall back
# to DejaVu (deepwild.datagen.newspapers.fonts).

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepwild-installed
FONT_STAMP := $(VENV)/.deepwild-fonts

.PHONY: demo test install clean

install: $(STAMP) $(FONT_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# One attempt per venv, successful or not: a machine without apt-get or root is not asked again.
$(FONT_STAMP): | $(STAMP)
	-$(PY) -m deepwild.datagen.newspapers.fonts --install
	touch $(FONT_STAMP)

demo: install
	$(VENV)/bin/deepwild demo

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
