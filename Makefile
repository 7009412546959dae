# The whole set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test tools bench clean demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages: docker-compose validates docker-compose.yml in the tests; Pango and
# HarfBuzz are WeasyPrint's (the printable meeting record and year report), with a CJK
# font; poppler-utils (pdftotext, pdftoppm) reads the PDFs back in the tests.
DEBIAN_PACKAGES := docker-compose libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk poppler-utils
tools:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages: sudo apt-get install $$missing"; fi; fi

run: $(STAMP)
	$(BIN)/pingyi run

test: $(STAMP) tools
	$(BIN)/python -m pytest

clean:
	rm -rf var .pytest_cache
