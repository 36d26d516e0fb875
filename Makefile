# The two commands of the README. Both set up .venv first (a no-op when it is current).
.PHONY: setup demo test test-fast

# The tests share one tiny model in the repo's cache (tests/conftest.py), the demo uses the user's cache
# ($RLVR_CACHE or ~/.cache/rlvr). Building it takes ~6 minutes on 2 cores: done here, before pytest, so that it is
# not counted against the first test's 900 s timeout, and copied from the other cache when that one has it.
TEST_CACHE = $${RLVR_CACHE:-$(CURDIR)/.cache/rlvr}
TEST_MODEL = RLVR_CACHE=$(TEST_CACHE) .venv/bin/rlvr bootstrap --copy-from $${HOME}/.cache/rlvr
DEMO_MODEL = .venv/bin/rlvr bootstrap --copy-from $(CURDIR)/.cache/rlvr
# Two pytest-xdist workers: run one at a time, the tests left one of the two cores idle most of the time (imports,
# Prefect, processes the tests wait for). `loadfile` keeps each file's tests, and its module fixtures, in one worker;
# tests/conftest.py gives each worker's torch one thread per core it has.
PYTEST = .venv/bin/python -m pytest -q -n 2 --dist loadfile

setup:
	bash scripts/setup.sh

demo: setup
	$(DEMO_MODEL)
	.venv/bin/rlvr demo

test: setup
	$(TEST_MODEL)
	$(PYTEST)

test-fast: setup
	$(TEST_MODEL)
	$(PYTEST) -m "not slow"
