# Two entry points: `make demo` (train and evaluate on synthetic data) and `make test`.
# Both create .venv on first use; nothing needs installing by hand. `make docs` regenerates
# docs/reference/ from the command parsers and the config dataclasses.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup docs

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ldseg demo --out ldseg-demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks)
	$(VENV)/bin/ruff format --check src tests $(wildcard benchmarks)

docs: $(STAMP)
	$(PY) -m ldseg.cli.reference --out docs/reference
