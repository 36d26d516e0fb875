"""Plug-in verifiers given as a file rather than an import path: verl's `custom_reward_function.path` style.

    is_file_plugin("/data/my_rewards.py:compute_score")   # True: the part before the last ':' ends in .py or has a /
    module = load_file("plug/my_rewards.py")               # loaded once per process, from that file
    short_names(["/data/my_rewards.py:score", "math"])     # {"/data/my_rewards.py:score": "my_rewards:score", ...}

A relative path is read from the directory the command runs in (the pool's workers start there too); a file on a
remote Dask/Ray cluster needs a path its workers can read. The file is run as a module of its own, not a package:
its directory is not put on sys.path (as verl does), so it imports what the process can import, not its neighbours.

Why a stable module name (`rlvr_plugin_<stem>_<digest of the absolute path>`, kept in sys.modules): every process
that loads the same file (this one, each verification worker, `rlvr verify`, a Prefect or Dask worker) gives it the
same name, so an object of the plug-in's own class in a Verdict pickles by reference and reads back in the process
that loaded it, and loading it again in one process is a lookup, not a second run of the file.

Why a short name in verdicts and metrics (`short_names`): the whole path made metric keys such as
`reward/-tmp-run-my_rewards.py:fn`. A file's stem and function (`my_rewards:fn`) read as an import path does; where
two verifiers of one run would then share a name, each file's parent folders are added until they do not
(`a/my_rewards:fn`, `b/my_rewards:fn`; in a metric key `/` becomes `-`). The folders are those of the path as given
(normalised, not made absolute), so that every process and machine names it alike.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import types
from collections import Counter


def is_file_plugin(name: str) -> bool:
    """Whether verifier `name` names a file (`path/to/file.py:fn`), not an import path (`pkg.mod:fn`)."""
    where, colon, _ = name.rpartition(":")
    return bool(colon) and (where.endswith(".py") or "/" in where or os.sep in where)


def module_name(path: str) -> str:
    """The name the file at `path` is loaded under: the same for the same absolute path in every process."""
    absolute = os.path.abspath(path)
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(absolute))[0])
    return f"rlvr_plugin_{stem}_{hashlib.sha256(absolute.encode()).hexdigest()[:12]}"


def load_file(path: str) -> types.ModuleType:
    """The module run from the file at `path` (relative to the current directory); ImportError naming the file
    when there is none. Whatever the file raises as it runs propagates, as an import's would."""
    name = module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    absolute = os.path.abspath(path)
    if not os.path.isfile(absolute):
        where = "" if os.path.isabs(path) else f" (a relative path is read from {os.getcwd()})"
        raise ImportError(f"no file {absolute}{where}")
    spec = importlib.util.spec_from_file_location(name, absolute)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: a dataclass or pickle inside the file looks itself up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # as a failed import does: the next try runs the file again
        raise
    return module


def short_names(names: list[str]) -> dict[str, str]:
    """Each of `names` as verdicts and metrics show it: a file plug-in as its stem and function (`my_rewards:fn`), with
    as many parent folders as keep it apart from the others' (`a/my_rewards:fn`); any other name as it is."""
    distinct = list(dict.fromkeys(names))
    depth = {name: 1 for name in distinct if is_file_plugin(name)}
    while True:
        shown = {name: _shown(name, depth.get(name)) for name in distinct}
        taken = Counter(shown.values())
        longer = [name for name, d in depth.items() if taken[shown[name]] > 1 and d < len(_path_parts(name))]
        if not longer:  # apart, or as long as they go (one file named twice: `spec_keys` numbers it)
            return shown
        for name in longer:
            depth[name] += 1


def _path_parts(name: str) -> list[str]:
    """The folders and stem of file plug-in `name`'s path, as given: `../x/my_rewards.py:fn` -> `..`, `x`,
    `my_rewards`."""
    path = os.path.normpath(name.rpartition(":")[0])
    folders, stem = os.path.split(os.path.splitext(path)[0])
    return [part for part in folders.split(os.sep) if part] + [stem]


def _shown(name: str, depth: int | None) -> str:
    if depth is None:  # not a file
        return name
    return "/".join(_path_parts(name)[-depth:]) + ":" + name.rpartition(":")[2]
