# The two commands a fresh machine needs: `make run` and `make test`.
# Both create .venv when missing and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-any-day upgrade check fmt schemas docs diagram area-codes bench bench-quick \
	reliability reliability-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Everything is installed from the hashed locks (scripts/lock.sh writes them; `make upgrade`
# moves them forward): requirements.lock for `make run`, requirements-dev.lock for the rest.
# pip itself first, at the version and hashes the dev lock pins.
$(VENV)/.pip: requirements-dev.lock | $(BIN)/python
	awk '/^pip==/{p=1} p{print} p&&!/\\$$/{exit}' requirements-dev.lock > $(VENV)/pip.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/pip.lock
	touch $@

# Reinstall whenever a lock or pyproject.toml changes. The project itself goes in last, with
# no dependencies and the locked build backend (hatchling), so nothing unpinned is downloaded.
$(VENV)/.installed: requirements.lock pyproject.toml $(VENV)/.pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml $(VENV)/.pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/python cli.py serve examples/hospital --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	@bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q

# The whole suite again with the machine's clock moved (libfaketime) to several dates at once:
# a Sunday, New York's spring-forward Sunday, years ahead. DATES="..." picks others.
test-any-day: $(VENV)/.installed-dev
	@bash scripts/test-deps.sh
	@bash scripts/test-any-day.sh $(DATES)

# The newest releases pyproject.toml allows: both locks rewritten, a fresh .venv from them,
# and the whole suite. Commit the locks when it passes.
upgrade: $(VENV)/.installed-dev
	bash scripts/lock.sh --upgrade
	rm -rf $(VENV)
	$(MAKE) test

check: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict routing_engine benchmarks reliability cluster

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

# Fuzzing, schemathesis, SIGKILL under load, store faults and hostile inputs against real servers
# on 127.0.0.1, each bounded in time and requests; writes RELIABILITY.md, fails on a missed goal.
reliability: $(VENV)/.installed-dev
	$(BIN)/python -m reliability.run

reliability-quick: $(VENV)/.installed-dev
	$(BIN)/python -m reliability.run --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
