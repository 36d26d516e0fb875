"""What `rlvr`'s flow commands print on the console: Prefect's rich console handlers, adjusted by
`flows.errors.quiet_console`, print a record's text as written."""

import subprocess
import sys

from tests.flows.flow_helpers import REPO

# A plug-in named `my_rewards:boom` in a warning: rich's console would print "my_rewards💥" by default.
SCRIPT = """
import logging, prefect.main
from rlvr.flows.errors import quiet_console
quiet_console()
logging.getLogger("prefect.flow_runs").warning("verifier 'my_rewards:boom:' timed out on 3 of 8 completions")
logging.getLogger("rlvr.data.loading").warning("arith:smile: skipped 1 bad row(s)")
"""


def test_colon_words_in_a_record_are_printed_as_text_not_emoji(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path / "prefect"),
                               "PREFECT_LOGGING_COLORS": "false"})
    shown = done.stdout + done.stderr
    assert done.returncode == 0, shown
    assert "'my_rewards:boom:' timed out" in shown and "arith:smile: skipped" in shown, shown
    assert "\N{COLLISION SYMBOL}" not in shown and "\N{SMILING FACE WITH SMILING EYES}" not in shown, shown
