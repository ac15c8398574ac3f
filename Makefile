# Two entry points for a fresh clone: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck check install clean lock fuzz audit rule-schema

$(BIN)/rulequeue: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

install: $(BIN)/rulequeue

demo: install
	$(BIN)/rulequeue demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# The long fuzzing run (~8 minutes): hypothesis "long" profile and 300 schemathesis examples.
fuzz: install
	HYPOTHESIS_PROFILE=long FUZZ_EXAMPLES=300 FUZZ_PHASES=examples,coverage,fuzzing $(BIN)/pytest -p no:cacheprovider --timeout 3600 \
		tests/unit/test_properties.py tests/integration/test_fuzz_handlers.py tests/integration/test_fuzz_api.py

# Known vulnerabilities in the pinned dependencies (asks PyPI's advisory data).
audit: install
	$(BIN)/pip-audit --strict --disable-pip --no-deps -r requirements.lock

# Regenerate schemas/rule.schema.json from the rule model (a test fails while they differ).
rule-schema: install
	$(BIN)/python -m schemas.rule_schema

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Regenerate the lock files after editing dependencies in pyproject.toml (needs uv): the
# development lock (.venv, CI) and the runtime lock the Docker image installs.
lock:
	uv lock
	uv export --frozen --extra dev --no-emit-project --format requirements-txt -o requirements.lock
	uv export --frozen --no-emit-project --format requirements-txt -o requirements-runtime.lock

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
