# Two commands for a new user (see README):
#   make app   — install into .venv, build the demo region (offline), start the app
#   make test  — install into .venv (with test extras), Debian's chromium + CJK fonts and PostgreSQL + PostGIS,
#                run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: app test demo clean browser-deps db-deps

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/eldermap demo --if-missing

app: demo
	$(BIN)/streamlit run serve.py --server.headless true

# The browser test drives Debian's chromium with Playwright (no browser download); Chinese needs CJK fonts.
# tests/test_deploy.py records every connect() of the server with strace.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -q "Noto Sans CJK" \
			|| ! command -v strace >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		echo "installing chromium, fonts-noto-cjk and strace (apt-get)"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-noto-cjk fontconfig strace >/dev/null; \
	fi

# The PostGIS tests start their own throw-away server from Debian's PostgreSQL 15 + PostGIS 3 (tests/pg_support.py).
PG_BIN ?= /usr/lib/postgresql/15/bin
db-deps:
	@if [ ! -x $(PG_BIN)/initdb ] || [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		echo "installing postgresql and postgresql-15-postgis-3 (apt-get)"; \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			postgresql postgresql-15-postgis-3 >/dev/null; \
	fi

# Two workers (the machine has two cores), one test file per worker so a file's server port is never shared.
test: $(VENV)/.installed browser-deps db-deps
	$(BIN)/python -m pytest -n 3 --dist loadfile --durations=25

clean:
	rm -rf $(VENV) build *.egg-info
