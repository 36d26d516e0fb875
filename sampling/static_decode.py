"""The hf backend's fixed-shape decode: a static KV cache and the same tensor shapes at every step, so that on
CUDA one captured graph replays a whole decode step.

Why: decoding a small model on a GPU is bound by launching kernels, not by arithmetic. On the H200 the 181M-param
Qwen2 shape at 256 rows spent ~17 ms per token in the transformers forward (about a thousand ops, each launched
from Python), while the arithmetic of that token takes well under 1 ms (bench/rollout_split.py). A CUDA graph
launches the captured step as one unit. It needs fixed shapes and no host syncs inside the step, which the
dynamic decode (sampling/hf_decode.py: a DynamicCache, finished rows dropped at every step) cannot offer.

How: the prompts of a chunk are left-padded to width W and prefilled once (their keys and values repeated n
times into the cache). Generated token t of every row goes to slot W + t, so one index serves all rows, and a
row's valid keys are the slots from its first prompt token to the current one (a mask built inside the step from
two index tensors). Rows that end stay in the batch and their outputs are ignored, until half of the batch has
ended: then the live rows are gathered into a batch of half the size (their cache too), so the arithmetic is at
most twice that of decoding only the live rows. With CUDA graphs each new shape is captured again, so there only
batches above `_GRAPH_MIN_CUT` rows are cut. The cache starts with room for `_CACHE_CHUNK` new tokens and doubles
that room when a row needs more (up to max_new), so a call with a large max_tokens whose rows end early does not
hold the cache of max_tokens for every row.

The forward is written here, over the model's own submodules (embedding, norms, q/k/v/o projections, MLP, rotary
embedding, LM head): the layer structure of the Llama family (llama, mistral, qwen2, qwen3 with its q/k norms).
Calling the submodules keeps a PEFT adapter working (its LoRA layers wrap the projections) and a mixed-precision
module in its precision (the autocast is entered here, as the module's wrapped forward would). Other models, a
sliding window, or a rotary scaling that reads the positions on the host use the dynamic decode (`supported`).

Sampling is the dynamic decode's (`processed_scores`, the same processors and recorded log-probs), run on the
step's logits outside the graph. The draws differ from the dynamic decode's for the same seed (finished rows
still draw), so samples repeat for the same problems, n and batch size, as the backend promises.
"""

from __future__ import annotations

import contextlib
import logging
import weakref

import torch

from rlvr.sampling.config import SamplingParams
from rlvr.sampling.hf_decode import DECODE_SDPA_ENV, Row, extend, next_tokens
from rlvr.sampling.sdpa_kernels import without_cudnn

log = logging.getLogger(__name__)
_FAMILY = {"llama", "mistral", "qwen2", "qwen3"}
# With CUDA graphs a cut costs a capture (~2 eager steps), while a replayed step of a small model costs about the
# same at 64 rows as at 256 (the GPU is not busy with either): cut only batches larger than this. An estimate, to be
# set from bench/rollout_split.py on a GPU.
_GRAPH_MIN_CUT = 64
_CACHE_CHUNK = 256  # new-token slots of the first cache; doubled as needed
_HOST_ROPE = {"dynamic", "longrope"}  # these rescale from the longest position seen: a host decision per step
# modules whose decode step failed to capture: they decode eagerly from then on (said once, not at every step)
_NO_GRAPHS: weakref.WeakSet = weakref.WeakSet()
# per module, what the captures of its decode steps share from one call to the next (`_GraphMemory`)
_MEMORY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _base(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a PEFT wrapper (its LoRA layers stay in place), or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supported(model: torch.nn.Module) -> str | None:
    """None when `model` can be decoded here, else why not (one line)."""
    config = getattr(_base(model), "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in _FAMILY:
        return f"model type {kind!r} is not one of {sorted(_FAMILY)}"
    if any(t != "full_attention" for t in getattr(config, "layer_types", None) or []):
        return "the model has sliding-window layers"
    if kind == "mistral" and getattr(config, "sliding_window", None) is not None:
        return "the model has a sliding window"
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type"))
    if rope_type in _HOST_ROPE:
        return f"rotary scaling {rope_type!r} is decided on the host"
    return None


class _Decoder:
    """The model's submodules, and one forward of T new tokens per row over a static KV cache."""

    def __init__(self, model: torch.nn.Module, compute: torch.dtype | None):
        base = _base(model)
        self.body, self.lm_head = base.model, base.get_output_embeddings()
        first = self.body.layers[0].self_attn
        self.heads = base.config.num_attention_heads
        self.kv_heads = base.config.num_key_value_heads
        self.head_dim = first.head_dim
        self.scale = first.scaling
        self.compute = compute
        self.module = model
        self.device = next(model.parameters()).device
        self.cache_dtype = compute or self.body.embed_tokens.weight.dtype

    def graph_memory(self) -> _GraphMemory:
        """The side stream and graph pool of this module's captures (made at its first capture)."""
        memory = _MEMORY.get(self.module)
        if memory is None or memory.stream.device != self.device:
            memory = _MEMORY[self.module] = _GraphMemory(self.device)
        return memory

    def precision(self):
        if self.compute is None:
            return contextlib.nullcontext()
        # no cast cache: a graph capture must not keep tensors cast outside it (torch's CUDA-graph notes)
        return torch.autocast(self.device.type, dtype=self.compute, cache_enabled=False)

    def forward(self, ids, positions, allowed, write) -> torch.Tensor:
        """Logits [B, V] at the last of the T new tokens. ids, positions: [B, T]; allowed: [B, T, S] bool, which
        cache slots each new token may attend to; write(layer, k, v) stores the new keys and values [B, kv, T, D]
        and returns the keys and values [B, kv, S, D] to attend over."""
        with self.precision():
            h = self.body.embed_tokens(ids)
            cos, sin = self.body.rotary_emb(h, positions)
            sin = _sign_folded(sin)
            # what each layer would otherwise compute again: the step's mask negated (a decode step masks the
            # scores with it)
            blocked = ~allowed if ids.shape[1] == 1 else None
            for i, layer in enumerate(self.body.layers):
                h = h + self._attention(layer.self_attn, self._matmul_input(layer.input_layernorm(h)), cos, sin,
                                        allowed, blocked, lambda k, v, i=i: write(i, k, v))
                h = h + layer.mlp(self._matmul_input(layer.post_attention_layernorm(h)))
            return self.lm_head(self.body.norm(h[:, -1]))

    def _matmul_input(self, x):
        """A norm's fp32 output cast once to the compute dtype, for the projections that read it: autocast would
        cast it again for each of them (q, k, v; gate, up) -- the same values, one kernel instead of three."""
        return x if self.compute is None else x.to(self.compute)

    def _attention(self, attn, x, cos, sin, allowed, blocked, write):
        b, t, _ = x.shape
        q = attn.q_proj(x).view(b, t, self.heads, self.head_dim)
        k = attn.k_proj(x).view(b, t, self.kv_heads, self.head_dim)
        if hasattr(attn, "q_norm"):  # qwen3 normalises each head before the rotation
            q, k = attn.q_norm(q), attn.k_norm(k)
        # rotated in the precision of cos and sin (fp32 under autocast), then stored and multiplied in the cache's
        q = _rotate(q.transpose(1, 2), cos, sin).to(self.cache_dtype)
        k = _rotate(k.transpose(1, 2), cos, sin).to(self.cache_dtype)
        v = attn.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        keys, values = write(k, v.to(self.cache_dtype))
        group = self.heads // self.kv_heads
        if t > 1:  # a prefill: a fused kernel never holds the [rows, heads, T, T] scores of a long prompt
            # (the prompt's keys repeated per query head: torch's masked fused kernels do not all take GQA)
            keys, values = keys.repeat_interleave(group, 1), values.repeat_interleave(group, 1)
            out = torch.nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask=allowed[:, None],
                                                                   scale=self.scale)
        else:  # one new token: its scores are small, and two matmuls beat SDPA's masked GQA path on CPU (~20%)
            q = q.reshape(b, self.kv_heads, group, self.head_dim)  # the query heads sharing a kv head: one matmul
            scores = (q @ keys.transpose(-1, -2)).float() * self.scale
            probs = scores.masked_fill(blocked[:, None], float("-inf")).softmax(-1).to(values.dtype)
            out = (probs @ values).view(b, self.heads, 1, self.head_dim)
        out = out.transpose(1, 2).reshape(b, t, -1)
        return attn.o_proj(out)


def _sign_folded(sin):
    """sin with the rotate-half negation folded in (its first half negated), made once per step: the rotation is
    then x * cos + swap_halves(x) * sin, one kernel fewer per q and k in every layer, and bit for bit the same
    (a negation is exact, on either factor)."""
    half = sin.shape[-1] // 2
    return torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)


def _rotate(x, cos, sin):
    """Rotary position embedding (the rotate-half form the Llama family uses); cos, sin: [B, T, D], sin sign-folded
    (`_sign_folded`)."""
    half = x.shape[-1] // 2
    turned = torch.cat((x[..., half:], x[..., :half]), dim=-1)
    return x * cos[:, None] + turned * sin[:, None]


class _Batch:
    """The rows being decoded together: their KV cache, and the inputs of the next step in fixed buffers (a
    captured graph reads them where they are)."""

    def __init__(self, decoder: _Decoder, keys, values, start, lengths, width: int, rows: list[int], step: int):
        self.decoder, self.keys, self.values = decoder, keys, values
        self.start, self.lengths, self.width, self.rows = start, lengths, width, rows
        self.tokens = torch.zeros(len(rows), dtype=torch.long, device=decoder.device)
        self.slot = torch.full((1,), width + step, dtype=torch.long, device=decoder.device)
        self.graph = self.graph_logits = None

    def step(self) -> torch.Tensor:
        """Logits after feeding `tokens` at `slot` (written into the cache there)."""
        slots = torch.arange(self.keys[0].shape[2], device=self.slot.device)
        allowed = ((slots >= self.start[:, None]) & (slots <= self.slot))[:, None]  # [B, 1, S]
        positions = (self.lengths + (self.slot - self.width))[:, None]

        def write(i, k, v):
            self.keys[i].index_copy_(2, self.slot, k)
            self.values[i].index_copy_(2, self.slot, v)
            return self.keys[i], self.values[i]

        return self.decoder.forward(self.tokens[:, None], positions, allowed, write)

    def run(self, tokens: torch.Tensor, step: int, graphs: bool) -> torch.Tensor:
        self.tokens.copy_(tokens)
        self.slot.fill_(self.width + step)
        if not graphs or self.decoder.module in _NO_GRAPHS:
            return self.step()
        if self.graph is None:
            try:
                self.graph, self.graph_logits = _capture(self.step, self.decoder.graph_memory())
            except RuntimeError as exc:  # a model op that cannot be captured: slower, not wrong
                log.warning("rlvr: CUDA graph capture of the decode step failed (%s); this model decodes without "
                            "graphs from now on", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                _NO_GRAPHS.add(self.decoder.module)
                return self.step()
        self.graph.replay()
        return self.graph_logits

    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def widen(self, slots: int, step: int) -> _Batch:
        """This batch with room for `slots` cache slots per row (the new ones empty)."""
        extra = slots - self.capacity()

        def grown(t):
            return torch.cat([t, t.new_zeros((*t.shape[:2], extra, t.shape[3]))], dim=2)

        return _Batch(self.decoder, [grown(k) for k in self.keys], [grown(v) for v in self.values], self.start,
                      self.lengths, self.width, self.rows, step)

    def keep(self, positions: list[int], index: torch.Tensor, step: int) -> _Batch:
        """A batch of the rows at `positions` of this one (`index`: the same positions on the device), with
        their cache."""
        return _Batch(self.decoder, [k[index] for k in self.keys], [v[index] for v in self.values], self.start[index],
                      self.lengths[index], self.width, [self.rows[p] for p in positions], step)


class _GraphMemory:
    """What the captured decode steps of one module share: one side stream, and the last graph, kept for its pool.

    A capture without a pool makes a private pool of its own, and the pool of a graph that is gone goes back to the
    driver only when the caching allocator empties its cache -- which it never does for an allocation made inside
    a capture. At ~3 captures per generate call (the first batch, each cut, each growth of the cache) the memory
    held would grow every call until a capture ran short and the module lost its graphs. So every capture goes
    into the previous graph's pool, which ends up as large as the largest step needs and is reused. Sharing it is
    safe here: a graph is replayed only until the next capture (its batch is gone by then), and one module's
    decodes run one at a time (on its sampler's thread). One stream, as the allocator caches freed blocks per
    stream: the warm-up blocks of one call serve the next."""

    def __init__(self, device: torch.device):
        if device.type != "cuda" or not torch.cuda.is_available():
            raise RuntimeError(f"CUDA graphs need a CUDA device (the model is on {device})")
        self.stream = torch.cuda.Stream(device)
        self.last = None  # the last graph captured

    def pool(self):
        return self.last.pool() if self.last is not None else torch.cuda.graph_pool_handle()


def _capture(step, memory: _GraphMemory):
    """A CUDA graph of `step` and its output tensor, captured on the module's side stream into its pool. One
    warm-up run on that same stream first: lazy initialisations (a BLAS handle and workspace are made per stream)
    and the allocations of a first call happen outside the capture, and an op that syncs with the host raises
    there (`_syncs_refused`), before any capture began. It repeats the step's own cache write, so running it
    changes nothing. The current stream is the one of the stream's device, named: the sampler's engine thread
    starts on device 0 whatever device the policy is on (the current device is per thread), so a rank's cuda:1
    work would not be waited for.

    `capture_begin`/`capture_end` directly, not the `torch.cuda.graph` context: that one also synchronises the
    device and empties the caching allocator before each capture (up to three per training step), which hands
    the update's cached activation blocks back to the driver only for the next update to allocate them again."""
    stream = memory.stream
    current = torch.cuda.current_stream(stream.device)
    stream.wait_stream(current)
    try:
        with torch.cuda.stream(stream), _syncs_refused():
            step()
    finally:  # a failed warm-up falls back to eager decoding on `current`: its queued cache writes come first
        current.wait_stream(stream)
    graph, pool = torch.cuda.CUDAGraph(), memory.pool()
    with torch.cuda.stream(stream):
        graph.capture_begin(pool=pool, capture_error_mode="thread_local")
        try:
            out = step()
        except BaseException:
            with contextlib.suppress(RuntimeError):  # ends the capture; the step's own error is the one to report
                graph.capture_end()
            _stop_allocating_to(stream.device, pool)
            raise
        try:
            graph.capture_end()
        except BaseException:
            _stop_allocating_to(stream.device, pool)
            raise
    memory.last = graph
    return graph, out


@contextlib.contextmanager
def _syncs_refused():
    """Inside the block an op that waits for the device raises (torch's sync debug mode; process-wide for the few
    milliseconds of a warm-up step, while the trainer's thread waits for the sampler)."""
    before = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(before)


def _stop_allocating_to(device: torch.device, pool) -> None:
    """After a failed capture: torch's `capture_end` ends the allocator's capture bookkeeping only once the stream
    capture ended cleanly. Left as it is, the allocator would count a capture as under way for the rest of the
    process, and never free cached blocks to retry an allocation that runs short. Nothing to do (an error,
    ignored) where it was ended."""
    with contextlib.suppress(Exception):
        torch._C._cuda_endAllocateToPool(device.index, pool)


def _prefill(decoder: _Decoder, prompts: list[list[int]], n: int, max_new: int, pad_id: int):
    """Prefill the prompts once (left-padded), repeat each n times into a cache with room for up to
    `_CACHE_CHUNK` new tokens; the batch of all rows and the logits of their first token."""
    device, width = decoder.device, max(map(len, prompts))
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, width - len(p):] = torch.tensor(p)
    lengths = torch.tensor([len(p) for p in prompts])
    start = width - lengths
    slots = torch.arange(width)
    positions = (slots[None] - start[:, None]).clamp(min=0)
    # causal within the prompt; a pad position sees itself, so no row of the softmax is empty (an empty one is NaN,
    # and a NaN value in a masked slot still poisons the product with the attention weights)
    causal = (slots[None, None] >= start[:, None, None]) & (slots[None, None] <= slots[None, :, None])
    allowed = causal | torch.eye(width, dtype=torch.bool)
    rows = len(prompts) * n
    shape = (rows, decoder.kv_heads, width + min(max_new, _CACHE_CHUNK), decoder.head_dim)
    keys = [torch.zeros(shape, dtype=decoder.cache_dtype, device=device) for _ in decoder.body.layers]
    values = [torch.zeros(shape, dtype=decoder.cache_dtype, device=device) for _ in decoder.body.layers]

    def write(i, k, v):
        keys[i][:, :, :width] = k.repeat_interleave(n, 0)
        values[i][:, :, :width] = v.repeat_interleave(n, 0)
        return k, v

    logits = decoder.forward(ids.to(device), positions.to(device), allowed.to(device), write)
    batch = _Batch(decoder, keys, values, start.repeat_interleave(n).to(device),
                   lengths.repeat_interleave(n).to(device), width, list(range(rows)), step=0)
    return batch, logits.repeat_interleave(n, 0)


@torch.no_grad()
def decode_static(model, prompts: list[list[int]], n: int, params: SamplingParams, max_new: int, *, pad_id: int,
                  eos_ids: set[int], stop_hit, deadline: float, timeout_s: float,
                  cache_dtype: torch.dtype | None = None, graphs: bool | None = None) -> list[Row]:
    """n samples for each of `prompts` (rows in prompt order, n per prompt), as `hf_decode.decode` returns them.
    `cache_dtype`: the module's autocast dtype (None: no autocast). `graphs`: replay CUDA graphs (None: on CUDA)."""
    decoder = _Decoder(model, cache_dtype)
    graphs = decoder.device.type == "cuda" if graphs is None else graphs
    with without_cudnn(decoder.device, DECODE_SDPA_ENV):  # each call's prompt width is a new shape
        batch, logits = _prefill(decoder, prompts, n, max_new, pad_id)
    out = [Row() for _ in batch.rows]
    live = list(range(len(batch.rows)))  # positions in `batch` of the rows still going
    for step in range(max_new):
        chosen, logp = next_tokens(logits, step, params, eos_ids, deadline, timeout_s)
        tokens, logps = torch.stack((chosen.double(), logp.double())).tolist()  # one device-to-host copy
        going = [b for b in live
                 if extend(out[batch.rows[b]], int(tokens[b]), logps[b], step, params, eos_ids, stop_hit)]
        if not going or step == max_new - 1:
            break
        if len(going) * 2 <= len(batch.rows) and (not graphs or len(batch.rows) > _GRAPH_MIN_CUT):
            # half have ended: gather the rest into a batch of their own
            index = torch.tensor(going, device=chosen.device)
            batch, chosen = batch.keep(going, index, step), chosen[index]
            going = list(range(len(going)))
        live = going
        if batch.width + step >= batch.capacity():  # token `step` has no slot yet: double the room for new tokens
            batch = batch.widen(batch.width + min(max_new, 2 * (batch.capacity() - batch.width)), step)
        logits = batch.run(chosen, step, graphs)  # token `step` of every row goes to slot width + step
    return out

