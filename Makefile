# Two commands do all the set-up (each creates .venv when it is missing):
#   make demo   compile a bundled example spec to a Keras model
#   make test   run the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-thorough bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(BIN)/kspec compile examples/siamese.kspec -o out/siamese.keras

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-thorough: $(STAMP)
	KSPEC_HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
