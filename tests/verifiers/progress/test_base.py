"""How estimators read a trajectory as tokens (`encode_trajectory`), and the contrast check on training data."""

from __future__ import annotations

import pytest

from agentgym.verifiers.progress.base import (
    NoContrastError,
    ProgressEstimatorError,
    chat_ids,
    check_contrast,
    encode_trajectory,
)

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_policy_tokens_are_the_sampled_ids_and_logprobs(policy_trajectories, tokenizer, tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    for trajectory in policy_trajectories:
        encoded = encode_trajectory(trajectory, tokenizer, use_policy_tokens=True)
        turns = trajectory.turns
        assert encoded.policy_tokens and encoded.num_turns == len(turns) == len(encoded.turn_spans)
        opening = chat_ids(tokenizer, [m.to_openai() for m in trajectory.messages], generation_prompt=True)
        assert encoded.input_ids[: len(opening)] == opening
        for k, ((start, end), turn) in enumerate(zip(encoded.turn_spans, turns, strict=True)):
            assert encoded.input_ids[start:end] == turn.token_ids
            assert encoded.reply_logprobs[k] == turn.logprobs
            if k + 1 < len(turns):  # the observation's ids sit between this reply and the next
                assert encoded.input_ids[end : encoded.turn_spans[k + 1][0]] == turn.observation_token_ids
        # The stream is what the policy sampled from: its log-probabilities of the reply tokens, recomputed
        # on the whole stream, are the ones recorded while sampling.
        with torch.no_grad():
            logits = model(torch.tensor([encoded.input_ids])).logits[0].log_softmax(-1)
        for (start, end), turn in zip(encoded.turn_spans, turns, strict=True):
            recomputed = logits[start - 1 : end - 1].gather(1, torch.tensor(turn.token_ids)[:, None])[:, 0]
            assert recomputed.tolist() == pytest.approx(turn.logprobs, abs=1e-4)


def test_text_spans_decode_to_each_reply(mixed_trajectories, tokenizer):
    for trajectory in mixed_trajectories:
        encoded = encode_trajectory(trajectory, tokenizer)
        assert not encoded.policy_tokens and encoded.reply_logprobs is None
        assert len(encoded.turn_spans) == encoded.num_turns == len(trajectory.turns)
        for (start, end), turn in zip(encoded.turn_spans, trajectory.turns, strict=True):
            reply = tokenizer.encode(turn.agent_text, add_special_tokens=False)
            assert encoded.input_ids[start:end] == [
                *reply,
                tokenizer.eos_token_id,
            ]  # the reply, then end-of-turn
        # The stream is the whole conversation rendered by the estimator's chat template.
        last = trajectory.turns[-1]
        conversation = [m.to_openai() for m in trajectory.messages]
        for turn in trajectory.turns[:-1]:
            conversation += [
                {"role": "assistant", "content": turn.agent_text},
                {"role": "user", "content": turn.observation},
            ]
        conversation.append({"role": "assistant", "content": last.agent_text})
        assert encoded.input_ids == chat_ids(tokenizer, conversation, generation_prompt=False)


@pytest.mark.parametrize("policy_tokens", [False, True])
def test_max_length_drops_trailing_turns(policy_trajectories, tokenizer, policy_tokens):
    trajectory = next(t for t in policy_trajectories if len(t.turns) >= 3)
    full = encode_trajectory(trajectory, tokenizer, use_policy_tokens=policy_tokens)
    limit = full.turn_spans[1][1]  # room for exactly the first two replies
    cut = encode_trajectory(trajectory, tokenizer, use_policy_tokens=policy_tokens, max_length=limit)
    assert cut.turn_spans == full.turn_spans[:2]
    assert cut.num_turns == len(trajectory.turns)
    assert len(cut.input_ids) <= limit
    assert cut.input_ids == full.input_ids[: len(cut.input_ids)]
    if policy_tokens:
        assert cut.reply_logprobs == full.reply_logprobs[:2]


def test_policy_tokens_need_token_ids(mixed_trajectories, tokenizer):
    with pytest.raises(ProgressEstimatorError, match="turn 0 .* no token_ids"):
        encode_trajectory(mixed_trajectories[0], tokenizer, use_policy_tokens=True)


def test_template_that_is_not_prefix_stable_raises(mixed_trajectories, tokenizer):
    unstable = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    # Renders the number of messages first: every longer conversation changes how the shorter one began.
    unstable.chat_template = "{{ messages | length }} " + tokenizer.chat_template
    with pytest.raises(ProgressEstimatorError, match="renders earlier turns differently"):
        encode_trajectory(mixed_trajectories[0], unstable)


def test_check_contrast(mixed_trajectories):
    won = [t for t in mixed_trajectories if t.success]
    lost = [t for t in mixed_trajectories if not t.success]
    assert won and lost
    check_contrast(won + lost, "training")  # both outcomes: fine
    with pytest.raises(NoContrastError, match="same outcome"):
        check_contrast(won, "training")
    with pytest.raises(NoContrastError, match="same outcome"):
        check_contrast(lost, "training")
    with pytest.raises(NoContrastError, match="no trajectories"):
        check_contrast([], "training")
