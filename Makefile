# The whole set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test tools bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian's docker-compose validates docker-compose.yml in the tests, Debian's nginx runs
# deploy/proxy/nginx.conf in front of the services in the generated-client test, and the
# AsyncAPI Initiative's parser (npm, on Node.js) validates docs/asyncapi.yaml.
ASYNCAPI_PARSER := tools/asyncapi/node_modules/.package-lock.json

tools: $(ASYNCAPI_PARSER)
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; \
	  else echo "docker-compose missing: sudo apt-get install docker-compose (its test will skip)"; fi; }
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	  else echo "nginx missing: sudo apt-get install nginx-light (the proxy and generated-client test will skip)"; fi; }

$(ASYNCAPI_PARSER): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "npm missing: sudo apt-get install nodejs npm (the AsyncAPI validation test will skip)"; fi; }
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tools/asyncapi --no-audit --no-fund --silent; fi

run: $(STAMP)
	$(BIN)/pingyi run

test: $(STAMP) tools
	$(BIN)/python -m pytest

clean:
	rm -rf var .pytest_cache
