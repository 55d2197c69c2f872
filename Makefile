# The two commands that matter: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DATA    ?= .demo-data
EVENTS  ?= 200000
PORT    ?= 8080

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml src/telequery/ingest/_fastotlp.pyx
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/telequery demo --data $(DATA) --events $(EVENTS) --seed 42 --host 127.0.0.1 --port $(PORT)

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 --dist loadfile

bench: install  # BENCH_ARGS="--huge" adds 100M events; BENCH_ARGS="queries" runs one part
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
