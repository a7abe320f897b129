# Two commands for a newcomer: `make demo` and `make test`. Both are safe to run again.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint models install system-deps clean

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
	$(PY) -m models fetch sface  # the second embedder (recognition.embedder = sface | fusion)
	$(PY) -m models samples

# The main job on the embedded defaults: who matches whom on the sample photos, then a demo school:
# enrol the sample students, play a generated walk-by video through `edge-agent run` and show the
# proposed attendance on the teacher's kiosk page (URL printed; kept open when run from a terminal).
demo: models
	$(PY) -m edge_agent.demo.matches
	$(PY) -m edge_agent.demo.chain

# System packages the tests use (Debian; CI runs as root): headless Chromium for the web pages,
# SoftHSM2/OpenSC/poppler/NSS tools and DejaVu fonts for the signatures, logrotate for the hardware units.
SYSTEM_PKGS := chromium chromium-driver softhsm2 opensc poppler-utils libnss3-tools fonts-dejavu-core logrotate fonts-khmeros
system-deps:
	@missing=$$(for p in $(SYSTEM_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "the tests need: sudo apt-get install $$missing"; exit 1; fi; fi

lint: install
	$(VENV)/bin/ruff check .

test: models lint system-deps
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
