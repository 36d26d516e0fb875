"""The process that runs untrusted code. Started by `sandbox.Sandbox` as

    python -I -S sandbox_child.py WIRE_PY REQ_FD RES_FD

Stdlib only (no site-packages). It reads a JSON header line from REQ_FD, isolates itself, drops privileges,
executes `setup` then the program (the program first when the header says `setup_last`: setup that builds
objects of the program's classes), and then answers calls (["call", name, args, kwargs]) on RES_FD with
["ok", value] or ["raise", type, message], ["values", names] with the program's non-callable globals of
those names (objects that cannot be sent stay in the sandbox as handles), and ["attr", name, attribute] with
an attribute of one of its globals (`Color.RED` of an Enum class). It never decides pass/fail: the judge
in the parent does.

Isolation, when started as root with namespaces available (`_isolate`; else, unless the header's `isolate` is
"required", the best-effort fallback in `_fallback_guard`, and the first message names why isolation failed):
new mount + network + PID namespaces; this process stays outside as a supervisor that reports the program
process's host pid and exits with its status; the program process is PID 1 of the new namespace (killing it kills
every process it started), sees a fresh size-limited tmpfs on /tmp (cwd /tmp/work, the only writable place),
empty read-only tmpfs over /var/tmp, /dev/shm, /run/lock and the `hide` paths, a private /proc, no network
interface, and runs as a fresh uid (1_000_000 + supervisor pid) so that RLIMIT_NPROC is enforced and nothing
outside its tmpfs is writable.
"""

import builtins
import ctypes
import errno
import io
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
UID_BASE = 1_000_000
M_ARENA_MAX = -8  # glibc's mallopt parameter

_libc = ctypes.CDLL(None, use_errno=True)


def _send(fd: int, msg: list, wire, encoded: str | None = None) -> None:
    data = json.dumps(msg, separators=(",", ":")) if encoded is None else '["ok",' + encoded + "]"
    data = data.encode("utf-8", "surrogatepass") + b"\n"
    while data:
        data = data[os.write(fd, data):]


def _mount(src, target, fstype, flags, data) -> None:
    b = lambda s: s.encode() if s is not None else None  # noqa: E731
    if _libc.mount(b(src), b(target), b(fstype), flags, b(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _isolate_filesystem(hdr: dict, uid: int) -> None:
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={hdr['tmpfs_mb']}m,mode=755")
    for p in ("/var/tmp", "/dev/shm", "/run/lock", *hdr["hide"]):
        if os.path.isdir(p):
            _mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    os.mkdir("/tmp/work", 0o700)
    os.chown("/tmp/work", uid, uid)
    os.chdir("/tmp/work")


def _reachable_sys_path() -> None:
    """Keep the stdlib importable after setuid even where its path is not traversable (e.g. under /root, which
    `hide` masks): sys.path and the `__path__` of the packages already imported (`encodings`, whose codec modules
    such as idna and cp1252 load on first use, `json`, ...) point at directory fds opened now."""
    moved = {}
    for p in sys.path:
        if os.path.isdir(p):
            moved[os.path.abspath(p)] = f"/proc/self/fd/{os.open(p, os.O_RDONLY | os.O_DIRECTORY)}"

    def reach(entry: str) -> str:
        for old, new in moved.items():
            if entry == old or entry.startswith(old + os.sep):
                return new + entry[len(old):]
        return entry

    sys.path[:] = list(moved.values())
    for module in list(sys.modules.values()):
        path = getattr(module, "__path__", None)
        if isinstance(path, list):
            path[:] = [reach(entry) for entry in path]
    sys.path_importer_cache.clear()


def _limit(hdr: dict) -> None:
    lim = hdr["limits"]
    mb = 1024 * 1024
    # without processes, the program's tasks are its main thread and at most `threads` more (`_count_thread_starts`):
    # the OS limit is a backstop that a thread started through `threading` or `_thread` never reaches first
    nproc = lim["nproc"] if hdr["processes"] else lim["threads"] + 1
    for res, soft, hard in (
        (resource.RLIMIT_CPU, lim["cpu_s"], lim["cpu_s"] + 1),
        (resource.RLIMIT_AS, lim["memory_mb"] * mb, lim["memory_mb"] * mb),
        (resource.RLIMIT_FSIZE, lim["fsize_mb"] * mb, lim["fsize_mb"] * mb),
        (resource.RLIMIT_NPROC, nproc, nproc),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NOFILE, 256, 256),
    ):
        resource.setrlimit(res, (int(soft), int(hard)))


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # cleared by the uid change, so set again


# seccomp: the program may start threads but no processes (see `_no_processes`); syscall numbers per architecture
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_NR = {"x86_64": {"clone": 56, "fork": 57, "vfork": 58, "clone3": 435}, "aarch64": {"clone": 220, "clone3": 435}}
CLONE_THREAD, EAGAIN, ENOSYS = 0x00010000, 11, 38
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _no_processes() -> bool:
    """Refuse process creation (fork, vfork, clone without CLONE_THREAD: EAGAIN) with a seccomp filter the program
    cannot lift; threads stay allowed (clone3 says ENOSYS, so libc creates them with clone). Why: RLIMIT_NPROC
    counts the processes alive (zombies included) when each fork happens, so for a program that starts short-lived
    processes, passing depended on how fast earlier ones were reaped: the same program passed on one run and was
    refused on the next. With no processes at all, every run sees the same refusal. Syscalls of another ABI (x32,
    i386) get ENOSYS. Returns False (no filter) on an architecture not in the table."""
    arch = os.uname().machine
    if arch not in _NR:
        return False
    nr = _NR[arch]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    eagain, enosys, allow = ("ret", _RET_ERRNO | EAGAIN), ("ret", _RET_ERRNO | ENOSYS), ("ret", _RET_ALLOW)
    # (code, k, jump-if-true label, jump-if-false label); labels index the returns at the end
    prog = [(ld, 4, None, None), (jeq, _AUDIT_ARCH[arch], None, "enosys"), (ld, 0, None, None)]
    if arch == "x86_64":
        prog.append((jge, 0x40000000, "enosys", None))  # the x32 ABI
    prog.append((jeq, nr["clone3"], "enosys", None))
    prog += [(jeq, nr[name], "eagain", None) for name in ("fork", "vfork") if name in nr]
    prog += [(jeq, nr["clone"], None, "allow"), (ld, 16, None, None), (jset, CLONE_THREAD, "allow", "eagain")]
    returns = {"allow": allow, "eagain": eagain, "enosys": enosys}
    at = {label: len(prog) + i for i, label in enumerate(returns)}
    insns = []
    for i, (code, k, jt, jf) in enumerate(prog):  # a jump's offset counts from the next instruction
        jt_off, jf_off = (0 if label is None else at[label] - i - 1 for label in (jt, jf))
        insns.append(_SockFilter(code, jt_off, jf_off, k))
    insns += [_SockFilter(ret, 0, 0, value) for _, value in returns.values()]
    array = (_SockFilter * len(insns))(*insns)
    fprog = _SockFprog(len(insns), array)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter")
    return True


def _count_thread_starts(cap: int) -> None:
    """Refuse the (cap+1)-th thread start, with the RuntimeError Python raises when the OS refuses one.

    Why a count of starts: RLIMIT_NPROC bounds the threads alive at once, and for a program that starts short-lived
    threads without joining them that number depends on scheduling, so 31 such threads passed on some runs and were
    `unsafe` on others. The number of starts is the same on every run of the same program. The count wraps the start
    functions of `_thread`, which `threading` (and so `concurrent.futures`, `asyncio.to_thread`) takes its own from
    when first imported; it is not imported before the program runs, and its copy is replaced here if it was."""
    import _thread

    left, lock = [cap], _thread.allocate_lock()

    def counted(start):
        def start_thread(*args, **kwargs):
            with lock:  # two threads starting threads at once must not both take the last one
                if left[0] <= 0:
                    raise RuntimeError(f"can't start new thread: this program may start {cap} threads")
                left[0] -= 1
            return start(*args, **kwargs)
        return start_thread

    # start_new is 3.11's alias of start_new_thread; threading uses start_joinable_thread from 3.13
    names = {"start_new_thread": "_start_new_thread", "start_new": None,
             "start_joinable_thread": "_start_joinable_thread"}
    threading = sys.modules.get("threading")
    for name, alias in names.items():
        if hasattr(_thread, name):
            setattr(_thread, name, counted(getattr(_thread, name)))
            if threading is not None and alias and hasattr(threading, alias):
                setattr(threading, alias, getattr(_thread, name))


def _one_malloc_arena() -> None:
    """glibc gives threads malloc arenas of their own, each reserving 64 MiB of address space (RLIMIT_AS), up to 8
    per core: with them 20 threads filled 1 GiB on 2 cores, at a point set by timing and by the core count. With one
    arena a thread costs its 8 MiB stack, so `threads` (64 by default) alive together fit the default 1 GiB. Must run
    while the process has one thread (the limit is read when the second arena would be made)."""
    mallopt = getattr(_libc, "mallopt", None)  # glibc; other C libraries have no per-thread arenas to limit
    if mallopt is not None:
        mallopt(M_ARENA_MAX, 1)


def _isolate(mode: str, root: bool) -> str | None:
    """Enter new mount, network and PID namespaces; None when done, else why not (the fallback runs instead)."""
    if mode == "off":
        return "isolate is 'off' in the code verifier's options"
    if not root:
        return f"not running as root (euid {os.geteuid()}): the namespaces and the uid switch need root"
    if _libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) == 0:
        return None
    err = ctypes.get_errno()
    hint = " (no CAP_SYS_ADMIN: a container started without --cap-add SYS_ADMIN?)" if err == errno.EPERM else ""
    return f"unshare of mount, network and PID namespaces failed: {os.strerror(err)}{hint}"


def _fallback_guard() -> None:
    """No network namespace: refuse socket creation from Python (best effort; ctypes could bypass it)."""
    import socket

    def refuse(*_a, **_k):
        raise PermissionError("network disabled in sandbox")

    socket.socket = refuse  # type: ignore[assignment]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.socketpair = refuse  # type: ignore[assignment]


def _supervise(pid: int, res_fd: int, req, wire, go_w: int, cpu_s: float) -> None:
    _send(res_fd, ["pid", pid, None, None], wire)
    os.close(go_w)
    os.close(res_fd)
    req.close()
    _, status, usage = os.wait4(pid, 0)
    if os.WIFSIGNALED(status):
        # PID 1 of a namespace ignores SIGXCPU (no handler), so the CPU limit shows as the hard limit's SIGKILL
        cpu_hit = os.WTERMSIG(status) == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= cpu_s
        os._exit(128 + (signal.SIGXCPU if cpu_hit else os.WTERMSIG(status)))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _serve(req, res_fd: int, ns: dict, wire) -> None:
    store: list = []  # objects that cannot be sent stay here; the judge holds handles to them
    for line in req:
        msg = json.loads(line)
        if msg[0] == "names":
            _send(res_fd, [], wire, encoded=wire.encode([n for n in msg[1] if callable(ns.get(n))]))
            continue
        if msg[0] not in ("call", "values", "attr"):
            break
        try:
            if msg[0] == "values":
                value = {n: ns[n] for n in msg[1] if n in ns and not callable(ns[n])}
            elif msg[0] == "attr":
                value = getattr(ns[msg[1]], msg[2])
            else:
                args, kwargs = wire.decode(msg[2], store), wire.decode(msg[3], store)
                value = ns[msg[1]](*args, **kwargs)
            out = wire.encode(value, store)
            if len(out) > wire.MAX_LINE_BYTES - 16:
                raise OverflowError("result too large to send")
            _send(res_fd, [], wire, encoded=out)
        except BaseException as e:  # noqa: BLE001 - SystemExit too: reported, never a pass
            _send(res_fd, ["raise", type(e).__name__, str(e)[:500]], wire)


def main() -> None:
    wire_path, req_fd, res_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    wire = type(sys)("rlvr_sandbox_wire")  # a plain module object; importlib.util costs ~10 ms of imports
    with io.open(wire_path, encoding="utf-8") as f:
        exec(compile(f.read(), wire_path, "exec"), wire.__dict__)
    req = io.open(req_fd, "r", encoding="utf-8", errors="surrogatepass", closefd=True)
    hdr = json.loads(req.readline())
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    root = os.geteuid() == 0
    uid = UID_BASE + os.getpid()
    unisolated_because = _isolate(hdr["isolate"], root)
    if unisolated_because and hdr["isolate"] == "required":  # refused before any of the program runs
        _send(res_fd, ["refused", unisolated_because], wire)
        os._exit(0)
    if unisolated_because is None:
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid:
            os.close(go_r)
            _supervise(pid, res_fd, req, wire, go_w, hdr["limits"]["cpu_s"])
        os.close(go_w)
        os.read(go_r, 1)  # EOF once the supervisor has sent our pid: keeps the message order fixed
        os.close(go_r)
        _reachable_sys_path()
        _isolate_filesystem(hdr, uid)
    else:
        import tempfile

        workdir = tempfile.mkdtemp(prefix="rlvr-sbx-")  # only here: the isolated program's cwd is its own tmpfs
        _send(res_fd, ["pid", os.getpid(), workdir, unisolated_because], wire)
        if root:
            _reachable_sys_path()
        os.chdir(workdir)
        if root:
            os.chown(workdir, uid, uid)
        _fallback_guard()
    _limit(hdr)
    if root:
        _drop_privileges(uid)
    if not hdr["processes"]:
        _no_processes()
    _one_malloc_arena()
    _count_thread_starts(hdr["limits"]["threads"])
    ns = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        parts = [("<setup>", hdr["setup"]), ("<program>", hdr["program"])]
        for name, code in parts[::-1] if hdr.get("setup_last") else parts:
            exec(compile(code, name, "exec"), ns)
    except BaseException as e:  # noqa: BLE001 - a program that fails to load is reported, not raised
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) else ""
        _send(res_fd, ["load_error", type(e).__name__, f"{e}{where}"[-1500:]], wire)
        os._exit(0)
    _send(res_fd, ["loaded"], wire)
    _serve(req, res_fd, ns, wire)
    os._exit(0)


if __name__ == "__main__":
    main()
