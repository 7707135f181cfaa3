# The two commands of the README: `make run` and `make test`. Everything they need is
# installed here (Debian packages via apt-get when missing, Python packages in .venv).
VENV     := .venv
PY       := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.run-$(shell cat requirements.txt | sha1sum | cut -c1-12)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test test-engines lint format bench worker services

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): requirements.txt | $(PY)
	bin/system-deps run
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	bin/system-deps test
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(RUN_STAMP) $@

run: $(RUN_STAMP)
	bin/kiln-run

services:
	bin/services-up

# Everything: lint, the layering contracts, the engine lane (no services), then the rest.
test: $(DEV_STAMP) services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory test-engines
	$(VENV)/bin/pytest -m "not engine"

# The fast lane: engine tests with PostgreSQL and Redis unreachable (a test that tried to
# use either would fail), so they run anywhere in seconds.
test-engines: $(DEV_STAMP)
	DATABASE_URL=postgres://nobody@127.0.0.1:9/none REDIS_URL=redis://127.0.0.1:9/0 \
		$(VENV)/bin/pytest -m engine -q

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(DEV_STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(DEV_STAMP) services
	bin/system-deps bench
	$(PY) bench/run.py

gallery: $(DEV_STAMP)
	$(PY) manage.py kiln_gallery --out docs/gallery.png
