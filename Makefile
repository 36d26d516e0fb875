# The two commands of the README. Both set up .venv first (a no-op when it is current).
.PHONY: setup demo test test-fast

# The tests share one tiny model in the repo's cache (tests/conftest.py). Building it takes ~6 minutes on 2 cores
# the first time: done here, before pytest, so that it is not counted against the first test's 900 s timeout.
TEST_MODEL = RLVR_CACHE=$${RLVR_CACHE:-$(CURDIR)/.cache/rlvr} .venv/bin/rlvr bootstrap

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/rlvr demo

test: setup
	$(TEST_MODEL)
	.venv/bin/python -m pytest -q

test-fast: setup
	$(TEST_MODEL)
	.venv/bin/python -m pytest -q -m "not slow"
