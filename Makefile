# Gradient Flow: every target sets itself up (a .venv with the pinned requirements and vxglib).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NBVAL  := $(BIN)/pytest --nbval chapters --sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider
BUILD  := $(BIN)/jupyter-book build . -W -n --keep-going
CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install book test unit nbval strict-book browser lab bench execute clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv with the pinned requirements and vxglib

book: install  ## build the HTML book from the outputs stored in the chapters
	$(BUILD)
	@echo "The book is at $(CURDIR)/_build/html/index.html"

test: unit nbval strict-book browser  ## unit tests, nbval over every chapter, strict book build, browser test

unit: install
	$(BIN)/pytest tests --ignore=tests/test_browser.py

nbval: install
	$(NBVAL)

strict-book: install
	rm -rf _build
	$(BUILD)

browser: install $(CHROMIUM)  ## the built book (_build/html) in headless Chromium, screenshots in _build/screenshots
	$(BIN)/pytest tests/test_browser.py

$(CHROMIUM):  # Debian's Chromium for the browser test; never a browser a tool downloads
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

lab: install  ## open the chapters in JupyterLab
	$(BIN)/jupyter lab chapters

bench: install book $(CHROMIUM)  ## chapter execution times, widget latencies, framework step times, explorer build times, page weights
	$(BIN)/python -m vxglib.bench

execute: install  ## re-run chapters and store their outputs: make execute NB=chapters/01_gradient_descent.ipynb
	$(BIN)/python -m vxglib.bench --execute $(or $(NB),chapters/*.ipynb)

clean:
	rm -rf _build
