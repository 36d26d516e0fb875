"""Run a training to completion in a fresh process (used by the resume test, which SIGKILLs it).

    python tests/trainers/train_child.py RUN_CONFIG.json
"""

import json
import sys

if __name__ == "__main__":
    from rlvr.trainers.run_config import validate_config
    from rlvr.trainers.loop import Trainer

    cfg = validate_config(json.loads(open(sys.argv[1]).read()))
    trainer = Trainer(cfg, resume=True, log=lambda msg: print(msg, flush=True))
    trainer.train()
    trainer.close()
