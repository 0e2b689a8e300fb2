# Two commands do all the set-up (each creates .venv when it is missing):
#   make demo   compile a bundled example spec to a Keras model
#   make test   run the whole test suite
# The first interpreter of the supported range (3.11 to 3.13) this machine
# can run; override with `make PYTHON=/path/to/python3.x ...`.
SUPPORTED := python3.11 python3.12 python3.13 python3
PYTHON ?= $(shell for p in $(SUPPORTED); do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The PyTorch CPU build the tests use on the PyTorch backend (see the install step).
TORCH  ?= torch==2.13.0

.PHONY: demo test test-thorough bench lint clean

$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x $(BIN)/python ]; then \
	  if [ -z "$(PYTHON)" ]; then echo "kspec needs Python 3.11, 3.12 or 3.13 (none found; set PYTHON=...)" >&2; exit 2; fi; \
	  echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1))"; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	@echo "installing kspec into $(VENV) ($$($(BIN)/python --version 2>&1))"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# constraints.txt: the Lark and pydantic versions the shipped parser tables and schema are made with
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[tensorflow,jax,lsp,export,tune,test]'
	@# PyTorch only from a CPU wheel already on this machine (PyPI's Linux torch is a CUDA build
	@# of several GB): torch's own wheel without the index, then its small dependencies from it.
	@# Without such a wheel the PyTorch tests skip, saying why.
	@if $(BIN)/python -m pip install --quiet --no-index --no-deps '$(TORCH)' >/dev/null 2>&1; then \
	  $(BIN)/python -m pip install --quiet -c constraints.txt '$(TORCH)'; \
	else echo "no local CPU wheel for $(TORCH): the PyTorch backend tests will skip"; fi
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(BIN)/kspec compile examples/siamese.kspec -o out/siamese.keras

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-thorough: $(STAMP)
	KSPEC_HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
