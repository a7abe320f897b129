# Two commands for a newcomer: `make demo` and `make test`. Both are safe to run again.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint models install browser clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

models: install
	$(PY) -m models fetch
	$(PY) -m models samples

demo: models
	$(PY) -m edge_agent.demo

# Headless Chromium for the web-page tests (Debian packages; CI runs as root).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "web-page tests need: sudo apt-get install chromium chromium-driver"; fi; }

lint: install
	$(VENV)/bin/ruff check .

test: models lint browser
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
