"""Errors a sampler raises: one type the training loop can catch, one subtype for deadlines."""

from __future__ import annotations


class SamplerError(RuntimeError):
    """A sampler could not start, generate or sync; the message names the cause and a fix."""


class SamplerTimeout(SamplerError):
    """A generate or weight sync ran past `SamplerConfig.timeout_s`."""
