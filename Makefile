# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint typecheck clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv
	# uv resolves this dependency set in seconds; pip's resolver backtracks over boto3/botocore releases for minutes.
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[dev,jupyter]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/studios up

# pytest exits 5 when it collects no tests; that is not a failure of the code.
test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check libs services tests bench
	$(BIN)/mypy libs services

clean:
	rm -rf $(VENV) .studios .pytest_cache .mypy_cache .ruff_cache
