"""Start a scale-out test child alone, under torchrun, or under accelerate launch (2 gloo ranks on 127.0.0.1)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_engine_fraction() -> float:
    """A CPU vLLM engine's share of RAM (`sampler.gpu_memory_utilization`) that leaves a KV cache of a few hundred MiB
    next to the ~0.7 GiB the process and the tiny model's weights use: the CPU default of 0.2 gives a KV cache of
    GiBs (4 GiB on 23 GiB of RAM) whose creation and warm-up took up to ~30 s per engine, and these tests hold a few
    hundred tokens at once. Never above that default (a machine with little RAM gets the default)."""
    import psutil

    return round(min(0.2, 1.2 * 2**30 / psutil.virtual_memory().total), 3)


def child_env() -> dict:
    """The test's environment without any rank variables of an outer launcher, one thread per rank, loopback gloo;
    a child killed by a signal (a rare gloo abort at teardown was seen) prints its Python stacks in the output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", TOKENIZERS_PARALLELISM="false",
               PYTHONFAULTHANDLER="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def launch(script: str, *args, ranks: int = 1, launcher: str = "torchrun", timeout: float = 900) -> subprocess.CompletedProcess:
    """`script` alone (ranks=1: no process group) or with `ranks` processes; fails with the child's output tail."""
    if ranks == 1:
        prefix = [sys.executable]
    elif launcher == "accelerate":  # --multi_gpu runs torchrun underneath, as on GPUs; --cpu would need mpirun
        prefix = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(ranks),
                  "--num_machines", "1", "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()),
                  "--mixed_precision", "no", "--dynamo_backend", "no"]
    else:
        prefix = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(ranks),
                  "--master_addr", "127.0.0.1", "--master_port", str(free_port())]
    cmd = [*prefix, str(HERE / script), *map(str, args)]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return done
