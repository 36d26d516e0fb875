"""A plug-in verifier named by import path (`memory_hog_verifier:hog`) that allocates `completion` MiB: importable
wherever verification runs (pool workers and Dask workers get this folder on their sys.path)."""

from rlvr.verifiers.verdict import Verdict


def hog(completion, reference, options=None):
    block = bytearray(int(completion) * 2**20)
    return Verdict(1.0, "correct", {"allocated_mb": len(block) // 2**20})
