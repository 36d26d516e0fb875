"""Sampling: G completions per problem from a vLLM engine (default) or transformers, with weight sync.

Entry point: `from sampling.factory import make_sampler` (kept out of this file so that importing
`sampling.config` stays cheap: no torch, transformers or vLLM).
"""
