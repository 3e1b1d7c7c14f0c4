# The two commands a fresh machine needs: `make run` and `make test`.
# Both create .venv when missing and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test check fmt schemas docs diagram area-codes bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/python cli.py serve examples/hospital --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	@bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q

check: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict routing_engine benchmarks

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: $(VENV)/.installed
	$(BIN)/python -m routing_engine.review.schemas

diagram: $(VENV)/.installed
	$(BIN)/python -m routing_engine.review.render examples/hospital examples/hospital/diagram.svg

docs: $(VENV)/.installed
	$(BIN)/python -m routing_engine.review.docs

area-codes: $(VENV)/.installed
	$(BIN)/python scripts/gen_area_codes.py

# Speed and memory, measured as ratios in one run; writes benchmarks/RESULTS.md.
bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.run

bench-quick: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
