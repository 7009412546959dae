# The whole set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test tools debian-tools bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests need, installed when missing (CI runs as root on a clean machine):
# docker-compose validates docker-compose.yml; chromium and a CJK font run the portal's
# browser tests (Playwright drives /usr/bin/chromium: `playwright install` downloads nothing
# here); nginx runs deploy/proxy/nginx.conf in front of the services in the generated-client
# test; poppler-utils reads the PDF documents back; Node.js runs the AsyncAPI Initiative's
# parser (npm), which validates docs/asyncapi.yaml.
ASYNCAPI_PARSER := tools/asyncapi/node_modules/.package-lock.json

tools: debian-tools $(ASYNCAPI_PARSER)

debian-tools:
	@missing=""; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing:$$missing — sudo apt-get install$$missing (their tests skip)"; fi; \
	fi

$(ASYNCAPI_PARSER): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tools/asyncapi --no-audit --no-fund --silent; fi

run: $(STAMP)
	$(BIN)/pingyi run

test: $(STAMP) tools
	$(BIN)/python -m pytest

clean:
	rm -rf var .pytest_cache
