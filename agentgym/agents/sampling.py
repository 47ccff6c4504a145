"""A lean sampling loop over a key/value cache: `generate`'s multinomial sampling, without its per-call setup.

For a small model, most of a `generate` call is Python around the forward passes: merging generation configs,
building stopping criteria and logits processors, preparing inputs and a 4-D attention mask at every step.
`sample` runs the same steps directly: one forward pass over the new ids, then one per token, each sampling from
the model's last logits (in float32) after the temperature, top-k and top-p warpers, in `generate`'s order, with
one `torch.multinomial` call per step over every row, as `generate` draws. With the same RNG state it returns the
ids and processed log-probabilities `generate` returns (tests check both, token for token).

It covers only what it reproduces exactly: `supported` says no for any model or setting where `generate` would do
more (a saved generation config with a repetition penalty, min-p, forced or suppressed tokens, beams, ...; caches
other than full-attention layers; attention implementations other than eager and sdpa), and the caller then uses
`generate`. For sdpa the attention mask is handed over as the 4-D boolean mask sdpa takes: building it from the
2-D padding mask at every step is the largest part of transformers' per-step overhead.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from agentgym.errors import require

torch = require("torch", "hf", "agentgym.agents.sampling")
transformers = require("transformers", "hf", "agentgym.agents.sampling")
from transformers.cache_utils import DynamicLayer  # noqa: E402
from transformers.generation.logits_process import (  # noqa: E402
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

# GenerationConfig fields that make `generate` add logits processors or change its search, with their neutral values.
_NEUTRAL = {
    "num_beams": (None, 1),
    "num_beam_groups": (None, 1),
    "penalty_alpha": (None,),
    "repetition_penalty": (None, 1.0),
    "encoder_repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "force_words_ids": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "min_p": (None,),
    "top_h": (None,),
    "typical_p": (None, 1.0),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "sequence_bias": (None,),
    "exponential_decay_length_penalty": (None,),
    "guidance_scale": (None, 1.0),
    "renormalize_logits": (None, False),
    "watermarking_config": (None,),
    "assistant_model": (None,),
    "prompt_lookup_num_tokens": (None,),
    "stop_strings": (None,),
}


@dataclass
class Sampled:
    """What `sample` returns: `sequences` (rows, prompt width + steps) as `generate` returns them (the padded
    inputs, then the sampled ids, the pad id after a row's EOS); `logprobs` (rows, steps), each sampled id's
    log-probability under the processed scores; `past_key_values`, the cache over all but the last step."""

    sequences: Any
    logprobs: Any
    past_key_values: Any


def supported(model: Any) -> bool:
    """Whether `sample` reproduces `model.generate` for this model, given its saved generation config (the
    sampling settings `sample` takes override the saved ones, as they do when passed to `generate`)."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    if getattr(config, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    if "position_ids" not in inspect.signature(model.forward).parameters:
        return False
    saved = getattr(model, "generation_config", None)
    if saved is not None:
        for field, neutral in _NEUTRAL.items():
            if getattr(saved, field, None) not in neutral:
                return False
    try:
        cache = transformers.DynamicCache(config=config)
    except Exception:  # noqa: BLE001 - a model whose config a DynamicCache cannot read: use generate
        return False
    # Sliding windows or state-space layers: their masks are more than a padding mask.
    return all(type(layer) is DynamicLayer for layer in cache.layers)


def sample(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    *,
    max_new_tokens: int,
    eos_token_ids: list[int],
    pad_token_id: int,
    do_sample: bool = True,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    past_key_values: Any = None,
) -> Sampled:
    """Sample up to `max_new_tokens` per row after `input_ids` (rows left-padded, `attention_mask` 0 on padding).

    With `past_key_values` (a cache over the first columns of `input_ids`, padding included), only the columns
    after it are run through the model. Rows stop at an EOS id; the loop stops when every row has stopped.
    Call under `torch.inference_mode()` or `torch.no_grad()`.
    """
    warpers = []
    if do_sample:
        if temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(temperature))
        if top_k:
            warpers.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
        if top_p < 1.0:
            warpers.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    device = input_ids.device
    cache = past_key_values if past_key_values is not None else transformers.DynamicCache(config=model.config)
    cached = cache.get_seq_length()
    mask = attention_mask
    # Positions as generate computes them: the running count of real ids (padding takes position 1).
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
    feed, feed_positions = input_ids[:, cached:], positions[:, cached:]
    sdpa = model.config._attn_implementation == "sdpa"
    keep_logits = (
        {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    )
    eos = torch.tensor(sorted(eos_token_ids), dtype=torch.long, device=device)
    stopped = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=device)
    pad = torch.tensor(pad_token_id, dtype=torch.long, device=device)
    steps, logprobs = [], []
    all_real = bool(mask.all())  # equal-length prompts: no mask at all, as generate does
    for step in range(max_new_tokens):
        if all_real:
            step_mask = None
        elif sdpa:
            step_mask = _sdpa_mask(mask, feed.shape[1])
        else:
            step_mask = mask
        outputs = model(
            input_ids=feed,
            attention_mask=step_mask,
            position_ids=feed_positions,
            past_key_values=cache,
            use_cache=True,
            **keep_logits,
        )
        scores = outputs.logits[:, -1, :].to(dtype=torch.float32)
        for warper in warpers:
            scores = warper(None, scores)
        if do_sample:
            chosen = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        else:
            chosen = scores.argmax(dim=-1)
        chosen = torch.where(stopped, pad, chosen)
        logprobs.append(scores.log_softmax(-1).gather(-1, chosen[:, None]).squeeze(1))
        steps.append(chosen)
        stopped = stopped | torch.isin(chosen, eos)
        if step + 1 == max_new_tokens or bool(stopped.all()):
            break
        feed, feed_positions = chosen[:, None], feed_positions[:, -1:] + 1
        if not all_real:
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
    return Sampled(
        sequences=torch.cat([input_ids, torch.stack(steps, dim=1)], dim=1),
        logprobs=torch.stack(logprobs, dim=1),
        past_key_values=cache,
    )


def _sdpa_mask(mask: Any, queries: int) -> Any:
    """The 4-D boolean mask (rows, 1, queries, keys) sdpa takes, True where a query may attend: causal over the
    last `queries` columns and never to padding. A padding query attends to itself, so no row is fully masked
    (its output is never read; a fully masked row would give NaN in some kernels)."""
    keys = mask.shape[1]
    keep = mask.bool()[:, None, None, :]
    if queries == 1:
        return keep
    causal = torch.ones(queries, keys, dtype=torch.bool, device=mask.device).tril(keys - queries)
    itself = torch.zeros(queries, keys, dtype=torch.bool, device=mask.device)
    itself[:, keys - queries :] = torch.eye(queries, dtype=torch.bool, device=mask.device)
    return (keep & causal) | itself
