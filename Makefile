# The two commands of the README. Both set up .venv first (a no-op when it is current).
.PHONY: setup demo test test-fast

# The tests share one tiny model in the repo's cache (tests/conftest.py), the demo uses the user's cache
# ($RLVR_CACHE or ~/.cache/rlvr). Building it takes ~6 minutes on 2 cores: done here, before pytest, so that it is
# not counted against the first test's 900 s timeout, and copied from the other cache when that one has it.
TEST_CACHE = $${RLVR_CACHE:-$(CURDIR)/.cache/rlvr}
TEST_MODEL = RLVR_CACHE=$(TEST_CACHE) .venv/bin/rlvr bootstrap --copy-from $${HOME}/.cache/rlvr
DEMO_MODEL = .venv/bin/rlvr bootstrap --copy-from $(CURDIR)/.cache/rlvr

setup:
	bash scripts/setup.sh

demo: setup
	$(DEMO_MODEL)
	.venv/bin/rlvr demo

test: setup
	$(TEST_MODEL)
	.venv/bin/python -m pytest -q

test-fast: setup
	$(TEST_MODEL)
	.venv/bin/python -m pytest -q -m "not slow"
