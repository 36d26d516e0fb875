"""Adversarial programs, one property each. Every hostile program bounds itself (fork/memory caps, sleeps that end)
so the machine stays healthy even if the sandbox failed; it only touches /tmp paths and loopback."""

import dataclasses
import glob
import os
import socket
import threading
import time
import uuid

import psutil
import pytest

from rlvr.verifiers.code import CodeOptions, verify

FAST = CodeOptions(timeout_s=5.0, cpu_s=5)


def run(program, tests="assert f() == 1", entry=None, options=FAST):
    return verify(f"```python\n{program}\n```", {"tests": tests, "entry_point": entry, "setup": "", "prompt_prefix": ""},
                  options)


def test_correct_program_passes():
    assert run("def f():\n    return 1").status == "correct"


def test_infinite_loop_is_killed():
    t = time.monotonic()
    v = run("def f():\n    while True:\n        pass", options=CodeOptions(timeout_s=1.5, cpu_s=10))
    assert v.status == "timeout" and time.monotonic() - t < 4


def test_cpu_limit():
    v = run("def f():\n    while True:\n        pass", options=CodeOptions(timeout_s=10, cpu_s=1))
    assert v.status == "timeout" and "CPU" in v.detail["error"]


def test_sleeping_program_hits_wall_clock():
    v = run("import time\ndef f():\n    time.sleep(30)", options=CodeOptions(timeout_s=1.0, cpu_s=5))
    assert v.status == "timeout"


def test_memory_limit():
    prog = "def f():\n    blocks = []\n    for _ in range(12):\n        blocks.append(bytearray(256 * 2**20))\n    return 1"
    v = run(prog, options=CodeOptions(timeout_s=10, cpu_s=5, memory_mb=512))
    assert v.status == "unsafe" and v.reward == 0.0


def test_fork_bomb_is_contained():
    prog = ("import os, time\n"
            "def f():\n"
            "    for _ in range(300):  # bounded even without a sandbox\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(3)\n"
            "            os._exit(0)\n"
            "    return 1")
    before = _alive_descendants()  # a server or pool an earlier test of this process left running
    for processes in (False, True):  # refused at the first fork, or (processes allowed) by RLIMIT_NPROC
        v = run(prog, options=CodeOptions(timeout_s=5, cpu_s=5, nproc=16, processes=processes))
        assert v.status == "unsafe" and "BlockingIOError" in v.detail["error"]
    time.sleep(0.2)
    # nothing left behind: the forks, orphaned inside the sandbox's PID namespace, would still be this process's
    # descendants (counted here rather than all the machine's processes, which other tests start and end too)
    assert _alive_descendants() <= before


def _alive_descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if _alive(p)}


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# a binary tree of 31 processes, each gone at once: whether 16 were alive together depended on scheduling
TREE_31 = ("import os\n"
           "def spawn(depth):\n"
           "    if depth == 0:\n"
           "        return\n"
           "    for _ in range(2):\n"
           "        if os.fork() == 0:\n"
           "            spawn(depth - 1)\n"
           "            os._exit(0)\n"
           "def f():\n"
           "    spawn(4)\n"
           "    return 1")


def test_a_process_tree_gets_the_same_verdict_every_run():
    verdicts = {(v.status, v.detail["rule"]) for v in (run(TREE_31) for _ in range(4))}
    assert verdicts == {("unsafe", "resource_limit")}


def test_even_one_short_lived_process_is_refused():
    prog = "import os\ndef f():\n    pid = os.fork()\n    if pid == 0:\n        os._exit(0)\n    os.waitpid(pid, 0)\n    return 1"
    v = run(prog)
    assert v.status == "unsafe" and "BlockingIOError" in v.detail["error"]
    sub = "import subprocess\ndef f():\n    return subprocess.run(['true']).returncode + 1"
    assert run(sub).status == "unsafe"


def test_raw_fork_syscalls_are_refused_too():
    # fork (57) and clone (56, no CLONE_THREAD) straight through libc's syscall(), and fork by the x32 ABI number
    prog = ("import ctypes, platform\n"
            "def f():\n"
            "    if platform.machine() != 'x86_64':\n"
            "        return [-1, -1, -1]\n"
            "    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    return [libc.syscall(57), libc.syscall(56, 17, 0, 0, 0, 0), libc.syscall(0x40000000 | 57)]")
    assert run(prog, tests="assert f() == [-1, -1, -1]").status == "correct"


def test_threads_are_allowed():
    prog = ("import threading\n"
            "def f():\n"
            "    out = []\n"
            "    ts = [threading.Thread(target=out.append, args=(1,)) for _ in range(8)]\n"
            "    [t.start() for t in ts]\n"
            "    [t.join() for t in ts]\n"
            "    return sum(out) // 8")
    assert run(prog).status == "correct"


def test_thread_limit_holds():
    prog = ("import threading, time\n"
            "def f():\n"
            "    ts = [threading.Thread(target=time.sleep, args=(2,), daemon=True) for _ in range(100)]\n"
            "    [t.start() for t in ts]\n"
            "    return 1")
    v = run(prog)
    assert (v.status, v.detail["rule"]) == ("unsafe", "resource_limit")
    assert "can't start new thread: this program may start 64 threads" in v.detail["error"]


def _unjoined_threads(n: int) -> str:
    """A program that starts `n` threads, each left to end after a random 0-4 ms: how many are alive together
    depends on scheduling (with a cap on threads alive at once, 31 of them passed about half of the runs)."""
    return ("import random, threading, time\n"
            "def f():\n"
            f"    for _ in range({n}):\n"
            "        threading.Thread(target=time.sleep, args=(random.random() * 0.004,)).start()\n"
            "    return 1")


def test_short_lived_threads_get_the_same_verdict_every_run():
    verdicts = [(v.status, v.detail["rule"]) for v in (run(_unjoined_threads(31)) for _ in range(8))]
    assert set(verdicts) == {("correct", "all_tests_passed")}, verdicts


def test_thread_starts_past_the_cap_are_unsafe_every_run():
    cap = CodeOptions().threads
    verdicts = [run(_unjoined_threads(cap + 6)) for _ in range(4)]
    assert {(v.status, v.detail["rule"]) for v in verdicts} == {("unsafe", "resource_limit")}, verdicts
    assert all(f"{cap} threads" in v.detail["error"] for v in verdicts)  # the refusal says which limit


def test_thread_cap_counts_starts_not_threads_alive():
    # one thread at a time, each joined before the next: 9 starts are past a cap of 8 all the same
    prog = ("import threading\n"
            "def f(n):\n"
            "    for _ in range(n):\n"
            "        t = threading.Thread(target=lambda: None)\n"
            "        t.start()\n"
            "        t.join()\n"
            "    return 1")
    eight = dataclasses.replace(FAST, threads=8)
    assert run(prog, tests="assert f(8) == 1", options=eight).status == "correct"
    assert run(prog, tests="assert f(9) == 1", options=eight).status == "unsafe"


def test_all_allowed_threads_fit_in_memory_together():
    # each thread mallocs: glibc's per-thread arenas (64 MiB of address space each) filled 1 GiB after ~20 threads
    prog = ("import threading\n"
            "def f():\n"
            "    barrier = threading.Barrier(64, timeout=3)\n"
            "    def work():\n"
            "        blocks = [bytearray(100_000) for _ in range(10)]\n"
            "        barrier.wait()  # all 64 alive at once\n"
            "        return blocks\n"
            "    ts = [threading.Thread(target=work, daemon=True) for _ in range(64)]\n"
            "    [t.start() for t in ts]\n"
            "    [t.join() for t in ts]\n"
            "    return 1")
    assert CodeOptions().memory_mb == 1024 and CodeOptions().threads == 64
    v = run(prog, options=dataclasses.replace(FAST, memory_mb=1024))
    assert v.status == "correct", v.detail.get("error")


def test_a_thread_pool_over_many_tasks_passes():
    prog = ("from concurrent.futures import ThreadPoolExecutor\n"
            "def f():\n"
            "    with ThreadPoolExecutor(max_workers=4) as ex:\n"
            "        return sum(ex.map(lambda i: i * i, range(100)))")
    assert run(prog, tests="assert f() == 328350\nassert f() == 328350").status == "correct"


def test_threads_started_around_the_count_still_meet_the_os_limit():
    # the count lives in Python, so a program can reach the unwrapped start function; RLIMIT_NPROC still holds
    prog = ("import _thread, time\n"
            "def f():\n"
            "    start = _thread.start_new_thread\n"
            "    cells = getattr(start, '__closure__', None) or ()\n"
            "    raw = next((c.cell_contents for c in cells if type(c.cell_contents) is type(len)), start)\n"
            "    for _ in range(300):\n"
            "        raw(time.sleep, (2,))\n"
            "    return 1")
    v = run(prog)
    assert v.status == "unsafe" and "can't start new thread" in v.detail["error"]


def test_process_tree_is_killed_even_after_setsid():
    marker = f"{31 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    prog = ("import os\n"
            "def f():\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
            "    while True:\n"
            "        pass")
    assert run(prog, options=CodeOptions(timeout_s=1.5, cpu_s=5, processes=True)).status == "timeout"
    time.sleep(0.3)
    left = [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert not left


def test_env_is_scrubbed(monkeypatch):
    monkeypatch.setenv("RLVR_TEST_SECRET", "s3cret")
    prog = "import os\ndef f():\n    return sorted(k for k in os.environ if 'SECRET' in k or 'TOKEN' in k)"
    assert run(prog, tests="assert f() == []").status == "correct"


def test_writes_stay_in_tempdir():
    target = f"/tmp/rlvr_escape_{uuid.uuid4().hex}"
    prog = ("def f():\n"
            "    try:\n"
            f"        open({target!r}, 'w').write('x')  # the sandbox's own /tmp is read-only outside its cwd\n"
            "    except OSError:\n"
            "        pass\n"
            "    open('local.txt', 'w').write('x')  # the cwd is writable\n"
            "    return open('local.txt').read()")
    assert run(prog, tests="assert f() == 'x'").status == "correct"
    assert not os.path.exists(target)


def test_nothing_outside_tempdir_is_writable():
    prog = ("def f():\n"
            "    ok = []\n"
            "    for p in ['/etc/rlvr_x', '/usr/rlvr_x', '/var/tmp/rlvr_x', '/dev/shm/rlvr_x', '/run/lock/rlvr_x']:\n"
            "        try:\n"
            "            open(p, 'w').write('x'); ok.append(p)\n"
            "        except OSError:\n"
            "            pass\n"
            "    return ok")
    assert run(prog, tests="assert f() == []").status == "correct"


def test_hidden_data_is_not_readable():
    prog = ("import os\ndef f():\n"
            "    return [p for p in ['/work/shared/data', '/root', '/home'] if os.path.isdir(p) and os.listdir(p)]")
    assert run(prog, tests="assert f() == []").status == "correct"


def test_no_network():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    got = []
    t = threading.Thread(target=lambda: got.append(_accept(server)))
    t.start()
    prog = ("import socket\ndef f():\n    s = socket.socket()\n    s.settimeout(1)\n"
            f"    s.connect(('127.0.0.1', {port}))\n    return 1")
    v = run(prog)
    t.join()
    server.close()
    assert v.status == "wrong" and got == [None]


def _accept(server):
    try:
        return server.accept()
    except socket.timeout:
        return None


def test_file_size_limit():
    prog = "def f():\n    open('big', 'wb').write(b'x' * (64 * 2**20))\n    return 1"
    assert run(prog, options=CodeOptions(timeout_s=5, cpu_s=5, fsize_mb=8)).status == "unsafe"


def test_output_within_the_cap_is_dropped():
    prog = "import sys\ndef f():\n    for _ in range(50):\n        print('x' * 10000); print('y', file=sys.stderr)\n    return 1"
    assert run(prog).status == "correct"


@pytest.mark.parametrize("how", [
    "import sys\ndef f():\n    for _ in range(100):\n        sys.stdout.write('x' * 2**20)\n    return 1",  # 100 MB
    "import os\ndef f():\n    for _ in range(100):\n        os.write(2, b'x' * 2**20)\n    return 1",  # fd 2 directly
    "print('x' * 3 * 2**20)\ndef f():\n    return 1",  # at load
])
def test_output_past_the_cap_is_unsafe(how):
    v = run(how)
    assert (v.status, v.detail["rule"]) == ("unsafe", "output_limit") and "1024 KiB" in v.detail["error"]


@pytest.mark.parametrize("codec", ["idna", "cp1252", "koi8_r", "utf_32"])
def test_stdlib_codecs_load_inside_the_sandbox(codec):
    prog = f"import codecs\ndef f():\n    return codecs.lookup({codec!r}).name != '' and 'abc'.encode({codec!r}) != b''"
    assert run(prog, tests="assert f() is True").status == "correct"


def test_no_host_temp_dir_is_left():
    before = set(glob.glob("/tmp/rlvr-sbx-*"))
    assert run("def f():\n    open('x', 'w').write('1')\n    return 1").status == "correct"
    fallback = CodeOptions(timeout_s=5, isolate="off")
    assert run("def f():\n    open('x', 'w').write('1')\n    return 1", options=fallback).status == "correct"
    assert set(glob.glob("/tmp/rlvr-sbx-*")) <= before


def test_exit_zero_at_load_is_not_a_pass():
    assert run("import sys\nsys.exit(0)").status == "wrong"


def test_os_exit_zero_in_the_call_is_not_a_pass():
    assert run("import os\ndef f():\n    os._exit(0)").status == "wrong"


def test_printing_passed_is_not_a_pass():
    assert run("print('PASSED'); print('ALL TESTS PASSED')\ndef f():\n    return 2").status == "wrong"


def test_systemexit_inside_a_test_call_is_not_a_pass():
    assert run("def f():\n    raise SystemExit(0)").status == "wrong"


def test_eq_always_true_is_not_a_pass():
    prog = "class Any:\n    def __eq__(self, o):\n        return True\n    __ne__ = lambda s, o: False\ndef f():\n    return Any()"
    assert run(prog).status == "wrong"


def test_patching_builtins_and_assert_is_not_a_pass():
    prog = ("import builtins, sys\n"
            "builtins.AssertionError = type('Nope', (Exception,), {})\n"
            "sys.settrace(lambda *a: None)\n"
            "builtins.isinstance = lambda *a: True\n"
            "def f():\n    return 2")
    assert run(prog).status == "wrong"


def test_reading_the_tests_is_impossible():
    prog = "import gc\ndef f():\n    return sum('assert' in str(o) for o in gc.get_objects() if isinstance(o, str))"
    assert run(prog, tests="assert f() == 0").status == "correct"  # the tests never enter the sandbox
