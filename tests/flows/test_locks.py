"""The device hold and the run-directory lock (flows/locks.py): OS file locks that die with their holder.

Holders here are real processes (a Python child that takes the hold and sleeps), killed with SIGKILL as an
OOM kill would; the `rlvr train` version of the same is in test_reliability.py."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from rlvr.flows.locks import LockBusy, device_hold, device_key, run_dir_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from rlvr.flows.locks import device_hold, run_dir_lock
    kind, name = sys.argv[1], sys.argv[2]
    hold = device_hold(name, slots=1, log=lambda m: None) if kind == "device" else run_dir_lock(name)
    with hold:
        print("holding", flush=True)
        time.sleep(600)
""")


def _holder(kind: str, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, kind, name], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_sigkilled_holder_releases_the_device_and_waiters_see_who_holds_it():
    proc = _holder("device", "test-dev-a")
    try:
        said = []
        with pytest.raises(LockBusy) as refused:
            with device_hold("test-dev-a", slots=1, timeout=0.5, log=said.append):
                pass
        assert f"pid {proc.pid} (" in str(refused.value) and " since 20" in str(refused.value)
        assert said and said[0].startswith("waiting for device test-dev-a: held by pid")
    finally:
        _kill(proc)
    with device_hold("test-dev-a", slots=1, timeout=30, log=lambda m: None):  # free once its holder is dead
        pass


def test_two_slots_let_two_runs_share_a_device_and_refuse_a_third():
    proc = _holder("device", "test-dev-b")
    try:
        with device_hold("test-dev-b", slots=2, timeout=0, log=lambda m: None) as second:
            assert second.name == "test-dev-b.1.lock"
            with pytest.raises(LockBusy, match="still held"):
                with device_hold("test-dev-b", slots=2, timeout=0, log=lambda m: None):
                    pass
    finally:
        _kill(proc)


def test_a_forked_child_does_not_keep_its_parents_hold():
    with device_hold("test-dev-c", slots=1, log=lambda m: None):
        pid = os.fork()
        if pid == 0:  # the child outlives the hold below; it must not keep the device held
            import time
            time.sleep(60)
            os._exit(0)
    try:
        # the child drops its copy as it starts (a fork hook); it lives far longer than this wait
        with device_hold("test-dev-c", slots=1, timeout=10, log=lambda m: None):
            pass
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_run_directory_has_one_writer(tmp_path):
    proc = _holder("run", str(tmp_path))
    try:
        with pytest.raises(LockBusy, match=rf"run directory {tmp_path} is in use by pid {proc.pid} \("):
            with run_dir_lock(tmp_path):
                pass
    finally:
        _kill(proc)
    with run_dir_lock(tmp_path):  # the killed writer left nothing held
        with pytest.raises(LockBusy):  # and a second writer in the same process is refused too
            with run_dir_lock(tmp_path):
                pass


@pytest.mark.parametrize("device, key", [("cuda", "cuda-0"), ("cuda:0", "cuda-0"), ("cuda:1", "cuda-1"), ("cpu", "cpu")])
def test_device_names_map_to_one_lock_per_physical_device(device, key):
    assert device_key(device) == key
