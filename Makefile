# The whole set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test tools debian-tools clean demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests need, installed when missing (CI runs as root on a clean machine):
# docker-compose validates docker-compose.yml; chromium and a CJK font run the portal's
# browser tests (Playwright drives /usr/bin/chromium: `playwright install` downloads nothing
# here); nginx runs deploy/proxy/nginx.conf in front of the services in the generated-client
# test; Pango and HarfBuzz are WeasyPrint's (the printable meeting record and year
# report); poppler-utils (pdftotext, pdftoppm) reads the PDFs back; Node.js runs the AsyncAPI Initiative's
# parser (npm), which validates docs/asyncapi.yaml; wrk drives the HTTP benchmarks under bench/.
ASYNCAPI_PARSER := tools/asyncapi/node_modules/.package-lock.json

tools: debian-tools $(ASYNCAPI_PARSER)

debian-tools:
	@missing=""; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	for p in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing:$$missing — sudo apt-get install$$missing (their tests skip)"; fi; \
	fi

$(ASYNCAPI_PARSER): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tools/asyncapi --no-audit --no-fund --silent; fi

run: $(STAMP)
	$(BIN)/pingyi run

# Plays the 2021 year at city scale against the embedded stack, starting it (in the
# background, logs in var/run.log) when nothing answers on voting's port; the stack
# stays up afterwards. The public vote comes from one address: its per-address limits (SMS codes,
# verifications, votes) are raised, as shared.ops.demo.DEMO_RATE_LIMITS says.
DEMO_SCALE ?= city
demo: $(STAMP) tools
	@mkdir -p var
	@if ! curl -sf http://127.0.0.1:8001/healthz/ready >/dev/null 2>&1; then \
	  echo "starting the embedded stack (var/run.log) …"; \
	  VOTING_RATE_LIMIT_PUBLIC_VOTE_IP=1000000/minute VOTING_RATE_LIMIT_CREDENTIAL=1000000/minute \
	  VOTING_RATE_LIMIT_VERIFICATION_CODE_IP=1000000/hour VOTING_RATE_LIMIT_VERIFICATION_IP=1000000/hour \
	  SCORING_RATE_LIMIT_CREDENTIAL=1000000/minute TRACKING_RATE_LIMIT_CREDENTIAL=1000000/minute \
	    nohup $(BIN)/pingyi run > var/run.log 2>&1 & echo $$! > var/run.pid; \
	  for i in $$(seq 1 240); do curl -sf http://127.0.0.1:8003/healthz/ready >/dev/null 2>&1 && \
	    curl -sf http://127.0.0.1:8002/healthz/ready >/dev/null 2>&1 && curl -sf http://127.0.0.1:8001/healthz/ready >/dev/null 2>&1 && break; sleep 0.5; done; \
	fi
	$(BIN)/pingyi demo --scale $(DEMO_SCALE)
	@echo "The year is in the running stack; it stays up (started here: kill \$$(cat var/run.pid) stops it):"
	@echo "  portal   http://127.0.0.1:8000/       the year, rankings, departments, the chamber board (公开网站)"
	@echo "  voting   http://127.0.0.1:8001/docs   meeting record: /v1/meetings/{id}/record?format=html"
	@echo "  scoring  http://127.0.0.1:8002/docs   ranking: /v1/year-plans/{id}/batches/1/ranking"
	@echo "  tracking http://127.0.0.1:8003/docs   public cases: http://127.0.0.1:8003/v1/public/cases"
	@echo "  operator key: var/operator.key"

test: $(STAMP) tools
	$(BIN)/python -m pytest

clean:
	rm -rf var .pytest_cache
