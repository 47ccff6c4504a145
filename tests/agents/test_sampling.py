"""agentgym's own sampling loop gives exactly what `generate` gives: the same ids for the same RNG state and the
same processed log-probs, from fresh prompts and from a kept cache with padding inside it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from agentgym.agents import HFAgent, sampling  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402

pytestmark = pytest.mark.hf

TEXTS = [
    "You are in a maze. Open directions: north.",
    "Find the exit.",
    "A wall blocks the way east. Open directions: south, west. You go north.",
]
SETTINGS = [
    dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0),
    dict(do_sample=True, temperature=0.7, top_k=0, top_p=1.0),
    dict(do_sample=True, temperature=1.0, top_k=5, top_p=1.0),
    dict(do_sample=True, temperature=1.0, top_k=0, top_p=0.8),
    dict(do_sample=True, temperature=0.5, top_k=7, top_p=0.9),
    dict(do_sample=False, temperature=1.0, top_k=0, top_p=1.0),
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def load(model_dir, attention: str = "sdpa"):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation=attention)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    return model.eval(), tokenizer


def left_padded(rows: list[list[int]], pad: int):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids, mask


def with_generate(model, ids, mask, settings, cache=None, steps=12):
    """`generate`'s sequences and processed log-probs, as HFAgent reads them."""
    out = model.generate(
        input_ids=ids,
        attention_mask=mask,
        past_key_values=cache,
        max_new_tokens=steps,
        pad_token_id=model.config.pad_token_id,
        eos_token_id=model.config.eos_token_id,
        output_scores=True,
        return_dict_in_generate=True,
        **settings,
    )
    new = out.sequences[:, ids.shape[1] :]
    logprobs = torch.stack(
        [
            s.float().log_softmax(-1).gather(-1, new[:, t : t + 1]).squeeze(-1)
            for t, s in enumerate(out.scores)
        ],
        1,
    )
    return out.sequences, logprobs, out.past_key_values


def with_own_loop(model, ids, mask, settings, cache=None, steps=12):
    with torch.no_grad():
        out = sampling.sample(
            model,
            ids,
            mask,
            past_key_values=cache,
            max_new_tokens=steps,
            eos_token_ids=[model.config.eos_token_id],
            pad_token_id=model.config.pad_token_id,
            **settings,
        )
    return out.sequences, out.logprobs, out.past_key_values


def both(model, ids, mask, settings, seed, caches=(None, None)):
    torch.manual_seed(seed)
    reference = with_generate(model, ids, mask, settings, caches[0])
    torch.manual_seed(seed)
    ours = with_own_loop(model, ids, mask, settings, caches[1])
    return reference, ours


def assert_same(reference, ours):
    assert torch.equal(ours[0], reference[0])
    torch.testing.assert_close(ours[1], reference[1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_the_loop_samples_what_generate_samples(model_dir, settings, attention):
    model, tokenizer = load(model_dir, attention)
    assert sampling.supported(model)
    ids, mask = left_padded([tokenizer(t)["input_ids"] for t in TEXTS], model.config.pad_token_id)
    assert_same(*both(model, ids, mask, settings, seed=11))


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_the_loop_continues_a_cache_with_padding_inside_like_generate(model_dir, attention):
    """Turn 1 samples from left-padded prompts until every row stops (row 1 at an EOS forced at its 2nd step, so
    pad ids follow it); turn 2 appends an observation to every row and continues from each one's own cache."""
    model, tokenizer = load(model_dir, attention)
    settings = SETTINGS[4]
    eos = model.config.eos_token_id
    prompts = [tokenizer(t)["input_ids"] for t in TEXTS]
    ids, mask = left_padded(prompts, model.config.pad_token_id)
    calls = []

    def force_eos_in_row_1(module, args, output):
        calls.append(1)
        if len(calls) == 2:  # the turn's 2nd forward pass
            output.logits[1, -1] = float("-inf")
            output.logits[1, -1, eos] = 0.0
        return output

    handle = model.register_forward_hook(force_eos_in_row_1)
    torch.manual_seed(5)
    reference = with_generate(model, ids, mask, settings)
    calls.clear()
    torch.manual_seed(5)
    ours = with_own_loop(model, ids, mask, settings)
    handle.remove()
    assert_same(reference, ours)
    first = ours[0][:, ids.shape[1] :]
    assert first[1, 1] == eos and (first[1, 2:] == model.config.pad_token_id).all()

    # What the kept cache holds: every column but the last sampled one; the pads after row 1's EOS are masked.
    cached = ours[2].get_seq_length()
    assert reference[2].get_seq_length() == cached
    kept_mask = torch.cat([mask, torch.ones_like(first)], dim=1)[:, :cached]
    kept_mask[1, ids.shape[1] + 2 :] = 0
    observation = tokenizer("Open directions: north.")["input_ids"]
    next_ids = torch.cat([ours[0], torch.tensor([observation] * 3)], dim=1)
    next_mask = torch.cat([kept_mask, torch.ones((3, next_ids.shape[1] - cached), dtype=torch.long)], dim=1)
    next_mask[1, cached] = 0  # row 1's last column, not yet cached, is a pad after its EOS too
    assert_same(*both(model, next_ids, next_mask, settings, seed=6, caches=(reference[2], ours[2])))


def test_models_and_settings_the_loop_does_not_reproduce_use_generate(model_dir):
    model, _ = load(model_dir)
    model.generation_config.repetition_penalty = 1.3  # generate would add a processor the loop lacks
    assert not sampling.supported(model)
    agent = HFAgent(model, tokenizer=str(model_dir), reuse_cache=True)
    assert not agent._own_loop
    model.generation_config.repetition_penalty = 1.0
    assert sampling.supported(model) and HFAgent(model, tokenizer=str(model_dir), reuse_cache=True)._own_loop
    assert not HFAgent(model, tokenizer=str(model_dir))._own_loop  # evaluation keeps generate

    windowed = transformers.MistralForCausalLM(
        transformers.MistralConfig(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            sliding_window=4,
        )
    )
    assert not sampling.supported(windowed)  # a sliding window is not a padding mask


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_the_loop_continues_an_unpadded_cache_like_generate(model_dir, attention):
    """Equal-length rows that never stop: no attention mask at all, on the first turn and the next."""
    model, tokenizer = load(model_dir, attention)
    eos = model.config.eos_token_id

    def never_eos(module, args, output):
        output.logits[..., eos] = float("-inf")

    model.register_forward_hook(never_eos)
    ids = torch.tensor([tokenizer(TEXTS[0])["input_ids"]] * 3)
    reference, ours = both(model, ids, torch.ones_like(ids), SETTINGS[1], seed=1)
    assert_same(reference, ours)
    observation = torch.tensor([tokenizer("Open directions: south.")["input_ids"]] * 3)
    next_ids = torch.cat([ours[0], observation], dim=1)
    caches = (reference[2], ours[2])
    assert_same(*both(model, next_ids, torch.ones_like(next_ids), SETTINGS[1], seed=2, caches=caches))
