# The two commands a newcomer needs: `make run` and `make test`. Both create the environment.
SHELL := /bin/bash
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PY := .venv/bin/python
ENV_STAMP := .venv/.synced
# Every process of the stack, and every one a test starts, imports about a thousand modules:
# read from cached bytecode that takes a second, compiled from source each time nearly three.
# The libraries are compiled when installed (--compile-bytecode); the project's own modules
# cache themselves on first import, even where the environment asks Python not to.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help env run test test-fast system-tools alerts lint openapi kafka-access edge-routes contract-lint sdk portal bench clean
CONTRACT_TOOLS := tools/contract
CONTRACT_STAMP := $(CONTRACT_TOOLS)/node_modules/.installed
SDK_TS := clients/typescript
SDK_TS_DEPS := $(SDK_TS)/node_modules/.installed
SDK_TS_STAMP := $(SDK_TS)/dist/.tested
PORTAL := examples/partner-portal
PORTAL_DEPS := $(PORTAL)/node_modules/.installed
PORTAL_STAMP := $(PORTAL)/dist/.built

help:
	@echo "make run      start the whole stack (PostgreSQL, broker, services, workers, gateway)"
	@echo "make test     run the whole test suite"
	@echo "make openapi  regenerate openapi/openapi.json and openapi/asyncapi.yaml"
	@echo "make kafka-access  regenerate deploy/k8s/kafka-access.sh (broker users and ACLs)"
	@echo "make edge-routes   regenerate the edge routes (deploy/nginx/edge.conf, the k8s Ingress)"
	@echo "make bench    run the benchmarks (prints a table; not part of make test)"
	@echo "make lint     ruff and the import contracts"
	@echo "make contract-lint  Redocly, Spectral and AsyncAPI checks of openapi/"
	@echo "make alerts   promtool checks and unit tests of deploy/prometheus/alerts.yml"
	@echo "make sdk      generate, build and test the TypeScript SDK (clients/typescript)"
	@echo "make portal   build the reference partner portal (examples/partner-portal)"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(ENV_STAMP): uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml) \
    clients/python/pyproject.toml | $(UV)
	$(UV) sync --frozen --all-packages --python 3.11 --compile-bytecode
	@touch $@

env: $(ENV_STAMP)

run: env
	$(PY) -m prm_stack run

# Node tools for the contract (Redocly, Spectral, the AsyncAPI parser), pinned by the lockfile.
$(CONTRACT_STAMP): $(CONTRACT_TOOLS)/package.json $(CONTRACT_TOOLS)/package-lock.json
	cd $(CONTRACT_TOOLS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The committed contract lints clean: 0 errors and 0 warnings in Redocly and Spectral
# (spectral:oas), and the AsyncAPI document validates.
contract-lint: $(CONTRACT_STAMP)
	@out=$$(cd $(CONTRACT_TOOLS) && ./node_modules/.bin/redocly lint ../../openapi/openapi.json \
	  --format=stylish 2>&1); echo "$$out" | grep -v "Node.js\|║\|╔\|╚"; \
	  ! echo "$$out" | grep -qE "^ +[0-9]+:[0-9]+ +(warning|error) "
	cd $(CONTRACT_TOOLS) && ./node_modules/.bin/spectral lint ../../openapi/openapi.json \
	  --ruleset .spectral.yaml --fail-severity=warn
	cd $(CONTRACT_TOOLS) && node validate-asyncapi.mjs ../../openapi/asyncapi.yaml

# The TypeScript SDK (clients/typescript): its types generated from openapi/openapi.json as it is
# now (openapi-typescript), built with tsc (strict) and tested with node's test runner. Rebuilt
# only when the contract or the SDK changed. The Python SDK (clients/python) is a workspace
# member: `make env` installs it and pytest tests it (tests/sdk/).
$(SDK_TS_DEPS): $(SDK_TS)/package.json $(SDK_TS)/package-lock.json
	cd $(SDK_TS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(SDK_TS_STAMP): $(SDK_TS_DEPS) openapi/openapi.json $(SDK_TS)/tsconfig.json \
    $(SDK_TS)/tsconfig.test.json $(wildcard $(SDK_TS)/scripts/* $(SDK_TS)/test/*) \
    $(filter-out %/schema.ts %/version.ts,$(wildcard $(SDK_TS)/src/*.ts))
	cd $(SDK_TS) && npm run --silent build && node --test --test-reporter=dot test/
	@touch $@

sdk: $(SDK_TS_STAMP)

# The reference partner portal (examples/partner-portal) on the TypeScript SDK: type-checked by
# tsc and bundled by esbuild (both pinned by its lockfile) into its dist/, which `make run`
# serves at /portal/ when PRM_PORTAL_OIDC_CLIENT_ID is set; its unit tests (node's runner) run
# after. Rebuilt only when it or the SDK changed; tests/portal drives it in a headless Chromium.
$(PORTAL_DEPS): $(PORTAL)/package.json $(PORTAL)/package-lock.json
	cd $(PORTAL) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(PORTAL_STAMP): $(PORTAL_DEPS) $(SDK_TS_STAMP) $(PORTAL)/tsconfig.json $(PORTAL)/build.mjs \
    $(wildcard $(PORTAL)/src/*.ts $(PORTAL)/src/*/*.ts $(PORTAL)/public/* $(PORTAL)/test/*)
	cd $(PORTAL) && npm run --silent build && node --test --test-reporter=dot test/
	@touch $@

portal: $(PORTAL_STAMP)

# System programs the tests run for real: nginx, to run the compose edge's configuration
# (tests/deploy/test_nginx_edge.py), Chromium, the headless browser of the partner portal's
# test (tests/portal), and promtool (Debian's `prometheus`), which checks and unit-tests the
# alert rules. Installed from Debian's packages when missing (as root).
system-tools:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null && (apt-get install -y -qq nginx-light || \
	  (apt-get update -qq && apt-get install -y -qq nginx-light)) >/dev/null 2>&1; } || \
	  { echo "the tests need nginx: apt-get install nginx-light"; exit 1; }
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null && (apt-get install -y -qq chromium || \
	  (apt-get update -qq && apt-get install -y -qq chromium)) >/dev/null 2>&1; } || \
	  { echo "the tests need chromium: apt-get install chromium"; exit 1; }
	@[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || { [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null && (apt-get install -y -qq fonts-dejavu-core || \
	  (apt-get update -qq && apt-get install -y -qq fonts-dejavu-core)) >/dev/null 2>&1; } || \
	  { echo "the tests need a Unicode font for PDFs: apt-get install fonts-dejavu-core"; exit 1; }
	@command -v promtool >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null && (apt-get install -y -qq prometheus || \
	  (apt-get update -qq && apt-get install -y -qq prometheus)) >/dev/null 2>&1; } || \
	  { echo "the tests need promtool: apt-get install prometheus"; exit 1; }

# The Prometheus alert rules (deploy/prometheus/alerts.yml) are valid, and fire on what they
# should (deploy/prometheus/alerts.test.yml).
alerts: system-tools
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts.test.yml

test: env contract-lint sdk portal system-tools alerts
	.venv/bin/ruff check .
	$(PY) scripts/import_contracts.py
	.venv/bin/mypy
	$(PY) -m pytest --durations=10

lint: env
	.venv/bin/ruff check .
	.venv/bin/mypy
	$(PY) scripts/import_contracts.py

openapi: env
	$(PY) scripts/generate_contracts.py

# The edge's routes (nginx in compose, the Kubernetes Ingress) from the services' declarations.
edge-routes: env
	$(PY) scripts/generate_edge_routes.py

kafka-access: env
	$(PY) -m prm_events.access > deploy/k8s/kafka-access.sh

bench: env
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk)) \
	  >/dev/null 2>&1; } || echo "wrk not installed: falling back to the Python load client"
	$(PY) tests/benchmarks/run.py
	$(PY) tests/benchmarks/registrations.py
	$(PY) tests/benchmarks/webhooks.py
	$(PY) tests/benchmarks/webhooks.py --only gateway,partners,webhooks --also-at 0
	$(PY) tests/benchmarks/ledger.py
	$(PY) tests/benchmarks/attribution.py
	$(PY) tests/benchmarks/lists.py
	$(PY) tests/benchmarks/leads.py
	$(PY) tests/benchmarks/health.py
	$(PY) tests/benchmarks/campaigns.py
	$(PY) tests/benchmarks/enablement.py
	$(PY) tests/benchmarks/portal.py
	$(PY) tests/benchmarks/audit.py
	$(PY) tests/benchmarks/telemetry.py
	$(PY) tests/benchmarks/stack_cost.py

clean:
	rm -rf .venv .tools .pytest_cache $(CONTRACT_TOOLS)/node_modules $(SDK_TS)/node_modules \
	  $(SDK_TS)/dist
