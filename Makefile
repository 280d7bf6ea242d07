# The two commands of the README:
#   make demo   install into .venv and run the main job on the shipped defaults
#   make test   install into .venv and run lint + the whole test suite (what CI runs)
# and for the inner loop:
#   make check  lint + the tests not marked slow (no SLURM, PostgreSQL or long runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Keep torch on its CPU build: an unpinned upgrade pulls the CUDA stack.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PYTEST_ARGS ?=
DEMO_OUT ?= out/demo

.PHONY: setup sysdeps demo test check lint pytest test-all clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev,postgres,docking]'
	$(BIN)/python scripts/check_cpu_torch.py
	touch $@

demo: setup
	$(BIN)/molspace run workflows/design.toml --out $(DEMO_OUT)

lint: setup
	$(BIN)/ruff check molspace tests benchmarks scripts libraries
	$(BIN)/ruff format --check molspace tests benchmarks scripts libraries
	$(BIN)/mypy molspace

sysdeps:
	bash scripts/install_system_deps.sh

pytest: setup sysdeps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint pytest

check: PYTEST_ARGS = -m "not slow"
check: lint pytest

test-all: PYTEST_ARGS =
test-all: test

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
