"""The SDPA kernel choice for masked attention with changing shapes (sampling/sdpa_kernels.py): on CUDA every
kernel but cuDNN's (it plans per shape), torch's own choice when the variable says `all`, and nothing changed on
other devices. torch's backend switches are process-wide flags, readable without a GPU."""

from __future__ import annotations

import torch

from rlvr.sampling.sdpa_kernels import without_cudnn

ENV = "RLVR_TEST_SDPA"


def _flags():
    b = torch.backends.cuda
    return {"cudnn": b.cudnn_sdp_enabled(), "flash": b.flash_sdp_enabled(), "efficient": b.mem_efficient_sdp_enabled(),
            "math": b.math_sdp_enabled()}


def test_cuda_calls_run_without_cudnn_attention_and_the_rest_stays_on(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    before = _flags()
    assert before["cudnn"], "torch allows cuDNN attention by default"
    with without_cudnn(torch.device("cuda", 0), ENV):
        assert _flags() == {"cudnn": False, "flash": True, "efficient": True, "math": True}
    assert _flags() == before


def test_all_gives_torch_its_choice_back_and_other_devices_are_untouched(monkeypatch):
    before = _flags()
    monkeypatch.setenv(ENV, "all")
    with without_cudnn("cuda", ENV):
        assert _flags() == before
    monkeypatch.delenv(ENV)
    with without_cudnn("cpu", ENV):
        assert _flags() == before
