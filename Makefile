# The two commands: `make demo` and `make test`. Each creates or updates .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# HUB_INSTALLER=pip forces plain pip; the default uses uv (installed from PyPI into the venv).
HUB_INSTALLER ?= uv

.PHONY: install demo test lint format fuzz bench clean stack-down constraints airflow

install: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ "$(HUB_INSTALLER)" = "uv" ] && ($(BIN)/python -m uv --version >/dev/null 2>&1 || $(BIN)/python -m pip install -q uv); then \
		$(BIN)/python -m uv pip install -q --python $(BIN)/python -c requirements/constraints.txt -e '.[dev,airflow]'; \
	else \
		$(BIN)/python -m pip install -q --upgrade pip && \
		$(BIN)/python -m pip install -q -c requirements/constraints.txt -e '.[dev,airflow]'; \
	fi
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lmis-hub demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# TEST_WORKERS=0 runs the suite in one process; loadscope keeps a module's tests (and its
# module-scoped services) in one worker.
TEST_WORKERS ?= 2
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Airflow standalone with the hub's DAGs on the embedded stack (after `make demo`).
airflow: $(STAMP)
	$(BIN)/lmis-hub stack airflow

stack-down: $(STAMP)
	$(BIN)/lmis-hub stack down

# Re-pin every dependency after changing pyproject.toml.
constraints: $(STAMP)
	$(BIN)/python -m uv pip compile pyproject.toml --extra dev --extra airflow --python-version 3.11 \
		--no-header --no-annotate -o requirements/constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
