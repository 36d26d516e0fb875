# The two commands of the README. Both set up .venv first (a no-op when it is current).
.PHONY: setup demo test test-fast

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/rlvr demo

test: setup
	.venv/bin/python -m pytest -q

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"
