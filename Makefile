# Two commands do everything from nothing: `make test` and `make book` (see README.md).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fashionlib-installed
SMOKE  := _build/smoke
PROFILE ?= cpu

.PHONY: setup lock test book smoke-book unit mutants clean

$(STAMP): pyproject.toml requirements-lock.txt .ci/setup.sh
	VENV=$(VENV) bash .ci/setup.sh
	touch $@

## Install the locked environment (requirements-lock.txt) and fashionlib into $(VENV).
setup: $(STAMP)

## Re-lock: freeze $(VENV) into requirements-lock.txt (exact versions, sha256 of each file from the
## package index) and environment.yml (same pins). Commit both, with the records they produced.
lock:
	$(PY) .ci/lock.py

## The whole test suite: the smoke-profile book (every notebook executed), unit tests, the browser test.
## No nbval pass: the sources hold no outputs to compare with (README, "Two commands").
## Then the mutation check (make mutants): each breakage that would change a verdict must fail a test.
test: $(STAMP)
	$(PY) -m fashionlib book --profile smoke --root $(SMOKE)
	FASHIONLIB_SMOKE_BOOK=$(abspath $(SMOKE)) $(PY) -m pytest -ra tests -p no:cacheprovider
	$(PY) scripts/mutants.py

## Execute every notebook at $(PROFILE) (default cpu) with papermill and build the HTML book.
book: $(STAMP)
	$(PY) -m fashionlib book --profile $(PROFILE)

## Only the unit tests (fast feedback while developing).
unit: $(STAMP)
	$(PY) -m pytest -ra tests -m "not slow and not browser"

## The mutation check alone: scripts/mutants.py applies each named breakage to a scratch copy and runs
## only the tests that must catch it; it fails if one survives or no longer fits the code.
## MUTANTS_ARGS passes options, e.g. make mutants MUTANTS_ARGS="-k CI" (breakages whose name holds "CI").
mutants: $(STAMP)
	$(PY) scripts/mutants.py $(MUTANTS_ARGS)

clean:
	rm -rf _build book/executed
