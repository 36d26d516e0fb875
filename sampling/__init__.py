"""Sampling: G completions per problem from a vLLM engine (default) or transformers, with weight sync.

Entry point: `from rlvr.sampling.factory import make_sampler` (kept out of this file so that importing
`rlvr.sampling.config` stays cheap: no torch, transformers or vLLM).
"""
