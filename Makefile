# The two commands the README promises: `make lab` and `make test`. Both need only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8888
# JupyterLab refuses to run as root unless told; containers (and CI machines) often are root
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install lab test unit notebooks browser-test html bench paper clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its dev tools

lab: $(STAMP)  ## open JupyterLab on the notebooks
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(ALLOW_ROOT)

test: $(STAMP)  ## unit tests, the notebooks under nbval, and the browser test of the sliders
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

unit: $(STAMP)  ## unit tests only (fast)
	$(BIN)/python -m pytest tests -m "not browser" -p no:cacheprovider

notebooks: $(STAMP)  ## re-execute every notebook in place (outputs are committed)
	$(BIN)/python tools/execute_notebooks.py notebooks/*.ipynb

browser-test: $(STAMP)  ## the sliders driven in a real JupyterLab with headless Chromium
	$(BIN)/python -m pytest tests -m browser -p no:cacheprovider

html: $(STAMP)  ## static HTML of every notebook under build/html/, math typeset offline (MathJax copy)
	$(BIN)/python tools/export_html.py notebooks build/html

bench: $(STAMP)  ## speed and accuracy benchmark; writes build/benchmark.md
	$(BIN)/python benchmarks/run.py

paper: $(STAMP)  ## the paper's figures at laptop scale and build/paper/report.md (about 4 minutes)
	$(BIN)/python tools/paper.py build/paper

clean:
	rm -rf build .pytest_cache
