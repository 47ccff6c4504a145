"""OPRL: the implicit PRM's rewards, its trajectory-level DPO update, the two ways of reading an episode."""

from __future__ import annotations

import json
import logging
import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from agentgym.errors import ConfigError  # noqa: E402
from agentgym.testing import build_tiny_model  # noqa: E402
from agentgym.types import Trajectory, Turn  # noqa: E402
from agentgym.verifiers.progress import NoContrastError, ProgressEstimatorError, encode_trajectory  # noqa: E402
from agentgym.verifiers.progress.oprl import (  # noqa: E402
    OPRLConfig,
    OPRLEstimator,
    preference_pairs,
    trajectory_dpo_loss,
)

pytestmark = pytest.mark.hf


def load(model_dir):
    return (
        transformers.AutoModelForCausalLM.from_pretrained(str(model_dir)),
        transformers.AutoTokenizer.from_pretrained(str(model_dir)),
    )


def labelled(trajectories, outcomes):
    """Copies with the given outcomes (the episode's total reward, what OPRL prefers on)."""
    return [
        t.model_copy(deep=True, update={"total_reward": float(o)})
        for t, o in zip(trajectories, outcomes, strict=True)
    ]


def snapshot(model):
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def changed(model, before):
    return [name for name, value in model.state_dict().items() if not torch.equal(value, before[name])]


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory):
    """A second tiny model whose vocabulary differs from the policy's (extra words shift the ids)."""
    corpus = "zebra quartz lantern " * 20 + "\nmaze exit open wall " * 5
    return build_tiny_model(tmp_path_factory.mktemp("oprl-other"), corpus=corpus, seed=1)


@pytest.fixture()
def preferred(policy_trajectories):
    """The policy's episodes, two per task, the first of each task preferred (outcome 1 against 0)."""
    return labelled(policy_trajectories, [1, 0, 1, 0])


def config(**overrides):
    return OPRLConfig(**{"beta": 0.1, "learning_rate": 1e-3, **overrides})


# ----- the config, the loss and the pairs ----------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("beta", 0),
        ("beta", float("nan")),
        ("learning_rate", -1e-5),
        ("updates_per_batch", 0),
        ("max_pairs_per_group", 0),
        ("max_length", 1),
        ("use_policy_tokens", "yes"),
        ("use_policy_tokens", 1),
        ("temperature", 0.0),
        ("micro_batch_size", 0),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        OPRLConfig(**{field: value})


def test_config_from_dict_rejects_unknown_options():
    assert OPRLConfig.from_dict({"beta": 0.2}).beta == 0.2
    with pytest.raises(ConfigError, match="betta"):
        OPRLConfig.from_dict({"betta": 0.2})


def test_trajectory_dpo_loss_is_the_formula_and_has_gradient():
    chosen = torch.tensor([2.0, -1.0], requires_grad=True)
    rejected = torch.tensor([1.0, 0.5], requires_grad=True)
    loss = trajectory_dpo_loss(chosen, rejected, beta=0.5)
    expected = -(math.log(1 / (1 + math.exp(-0.5))) + math.log(1 / (1 + math.exp(0.75)))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    assert (chosen.grad < 0).all() and (rejected.grad > 0).all()  # descending raises chosen, lowers rejected


def _episode(task, reward, status="ok"):
    turn = Turn(index=0, agent_text="go north", observation="ok")
    return Trajectory(env_id="e", task_id=task, total_reward=reward, turns=[turn], status=status)


def test_preference_pairs_pair_each_better_episode_with_each_worse_one_in_its_group():
    a = [_episode("a", r) for r in (1, 0, 1, 0)]
    b = [_episode("b", r) for r in (0, 0, 0, 0)]  # tied: no pair
    c = [_episode("c", 0.5), _episode("c", 1), _episode("c", 0), _episode("c", 1, status="error")]
    pairs = preference_pairs(a + b + c, group_size=4)
    expected = [(a[0], a[1]), (a[0], a[3]), (a[2], a[1]), (a[2], a[3])]
    expected += [(c[0], c[2]), (c[1], c[0]), (c[1], c[2])]  # graded outcomes; the failed episode is left out
    assert pairs == expected
    assert preference_pairs(c + a + b) == preference_pairs(a + b + c, group_size=4)[4:] + expected[:4]
    assert len(preference_pairs(a, group_size=4, max_pairs_per_group=3)) == 3
    with pytest.raises(ProgressEstimatorError, match="group_size=3"):
        preference_pairs(a, group_size=3)


# ----- the implicit reward -------------------------------------------------------------------------
def test_rewards_are_zero_at_the_start_when_the_prm_is_the_sampling_policy(
    tiny_model_dir, policy_trajectories
):
    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config())
    assert all(estimator.uses_policy_tokens(t) for t in policy_trajectories)
    rewards = estimator.step_rewards_batch(policy_trajectories)
    assert [len(r) for r in rewards] == [len(t.turns) for t in policy_trajectories]
    assert max(abs(r) for turn_rewards in rewards for r in turn_rewards) < 1e-4


def test_update_trains_the_prm_towards_the_preferred_episodes(tiny_model_dir, preferred):
    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config())
    before, rewards_before = snapshot(estimator.model), estimator.trajectory_rewards(preferred)

    metrics = estimator.update(preferred, group_size=2)

    assert changed(estimator.model, before)
    assert metrics["oprl/pairs"] == 2 and estimator.num_updates == 1
    assert metrics["oprl/loss"] == pytest.approx(math.log(2), abs=1e-3)  # r ≈ 0 before the step
    assert metrics["oprl/grad_norm"] > 0
    rewards_after = estimator.trajectory_rewards(preferred)
    rise = [after - b for after, b in zip(rewards_after, rewards_before, strict=True)]
    for chosen, rejected in ((0, 1), (2, 3)):
        assert rise[chosen] > 0 and rise[chosen] > rise[rejected]
    assert estimator.preference_accuracy(preference_pairs(preferred, group_size=2)) == 1.0


def test_step_rewards_add_up_to_beta_times_the_sequence_log_ratio(tiny_model_dir, preferred):
    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config(beta=0.3))
    estimator.update(preferred, group_size=2)  # so that the log-ratio is not 0
    model, tokenizer = estimator.model, estimator.tokenizer
    for trajectory, step_rewards in zip(preferred, estimator.step_rewards_batch(preferred), strict=True):
        view = encode_trajectory(trajectory, tokenizer, use_policy_tokens=True)
        with torch.no_grad():
            logprobs = model(torch.tensor([view.input_ids])).logits[0].log_softmax(-1)
        policy = sum(
            logprobs[p - 1, view.input_ids[p]].item()
            for start, end in view.turn_spans
            for p in range(start, end)
        )
        sampling = sum(lp for turn in trajectory.turns for lp in turn.logprobs)
        assert sum(step_rewards) == pytest.approx(0.3 * (policy - sampling), abs=1e-4)
        assert any(abs(r) > 1e-3 for r in step_rewards)


def test_turns_a_trainer_row_cut_get_reward_zero(tiny_model_dir, preferred):
    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config())
    estimator.update(preferred, group_size=2)
    full = preferred[0]
    cut = full.model_copy(deep=True)  # as a row that ran out of max_episode_tokens before the last reply
    cut.turns[-1] = cut.turns[-1].model_copy(update={"agent_text": "", "token_ids": [], "logprobs": []})
    cut.turns[-2].observation_token_ids = None
    assert estimator.uses_policy_tokens(cut)
    full_rewards, cut_rewards = estimator.step_rewards_batch([full, cut])
    assert cut_rewards[-1] == 0.0 and cut_rewards[:-1] == pytest.approx(full_rewards[:-1], abs=1e-5)

    not_a_row = full.model_copy(deep=True)  # ids and log-probs, but no observation ids: read as text
    for turn in not_a_row.turns:
        turn.observation_token_ids = None
    assert not estimator.uses_policy_tokens(not_a_row)


def test_the_dpo_loss_carries_gradient_to_the_prm(tiny_model_dir, preferred):
    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config())
    loss = estimator.pair_loss([preferred[0]], [preferred[1]])
    assert loss.requires_grad
    loss.backward()
    grads = [p.grad for p in estimator.model.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_a_tied_batch_warns_and_leaves_the_prm_alone(tiny_model_dir, policy_trajectories, caplog):
    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config())
    before = snapshot(estimator.model)
    tied = labelled(policy_trajectories, [0, 0, 1, 1])
    with caplog.at_level(logging.WARNING, logger="agentgym.verifiers.progress.oprl"):
        metrics = estimator.update(tied, group_size=2)
    assert metrics["oprl/pairs"] == 0
    assert "no preference pair" in caplog.text
    assert not changed(estimator.model, before) and estimator.num_updates == 0


# ----- reading episodes as text, against a reference model -----------------------------------------
def test_a_prm_with_another_tokenizer_reads_the_text_against_a_frozen_reference(
    other_model_dir, preferred, tmp_path
):
    model, tokenizer = load(other_model_dir)
    estimator = OPRLEstimator(model, tokenizer, config())
    assert not any(estimator.uses_policy_tokens(t) for t in preferred)  # ids would mean other words
    assert all(r == 0.0 for rewards in estimator.step_rewards_batch(preferred) for r in rewards)
    reference = snapshot(estimator.reference_model)  # the copy of the initial weights, taken when needed

    before = estimator.trajectory_rewards(preferred)
    metrics = estimator.update(preferred, group_size=2)
    after = estimator.trajectory_rewards(preferred)

    assert metrics["oprl/pairs"] == 2
    assert not changed(estimator.reference_model, reference)
    assert after[0] - before[0] > after[1] - before[1] and after[2] - before[2] > after[3] - before[3]

    estimator.save_pretrained(tmp_path / "prm")
    assert (tmp_path / "prm" / "reference").is_dir()
    loaded = OPRLEstimator.from_pretrained(tmp_path / "prm")
    assert loaded.num_updates == 1
    assert loaded.step_rewards_batch(preferred) == estimator.step_rewards_batch(preferred)


def test_text_episodes_need_a_reference_from_before_the_first_update(
    tiny_model_dir, preferred, mixed_trajectories
):
    text_episode = mixed_trajectories[0]  # no token ids or logprobs
    strict = OPRLEstimator.from_policy(*load(tiny_model_dir), config(use_policy_tokens=True))
    with pytest.raises(ProgressEstimatorError, match="token_ids"):
        strict.step_rewards(text_episode)

    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config())
    estimator.update(preferred, group_size=2)  # policy tokens only: no reference model was needed
    assert estimator.reference_model is None
    with pytest.raises(ProgressEstimatorError, match="reference_model"):
        estimator.step_rewards(text_episode)


def test_save_and_load_give_identical_rewards(tiny_model_dir, preferred, tmp_path):
    estimator = OPRLEstimator.from_policy(*load(tiny_model_dir), config(beta=0.2))
    estimator.update(preferred, group_size=2)
    estimator.save_pretrained(tmp_path / "prm")

    record = json.loads((tmp_path / "prm" / "progress_estimator.json").read_text())
    assert record["kind"] == "oprl" and record["options"]["beta"] == 0.2
    loaded = OPRLEstimator.from_pretrained(tmp_path / "prm")
    assert loaded.config == estimator.config
    assert loaded.step_rewards_batch(preferred) == estimator.step_rewards_batch(preferred)
    assert OPRLEstimator.from_pretrained(tmp_path / "prm", beta=0.4).config.beta == 0.4
    with pytest.raises(ConfigError, match="bogus"):
        OPRLEstimator.from_pretrained(tmp_path / "prm", bogus=1)


def test_train_offline_learns_from_tasks_with_mixed_outcomes(other_model_dir, mixed_trajectories):
    estimator = OPRLEstimator(*load(other_model_dir), config(learning_rate=3e-3))
    history = estimator.train_offline(mixed_trajectories, epochs=3, groups_per_update=3, progress=False)
    assert len(history) == 6 and all(m["oprl/pairs"] > 0 for m in history)
    pairs = preference_pairs(mixed_trajectories)
    assert estimator.preference_accuracy(pairs) > 0.5

    won = [t for t in mixed_trajectories if t.success]
    with pytest.raises(NoContrastError):
        estimator.train_offline(won, progress=False)


def test_cli_trains_an_oprl_estimator_that_scores_episodes(
    mixed_trajectories, tiny_model_dir, tmp_path, capsys
):
    from agentgym.cli import main
    from agentgym.types import write_jsonl

    data = tmp_path / "trajectories.jsonl"
    write_jsonl(data, mixed_trajectories)
    out = tmp_path / "prm"
    argv = ["progress", "train", "oprl", "--trajectories", str(data), "--model", str(tiny_model_dir)]
    argv += ["--out", str(out), "--no-progress", "--beta", "0.2", "--learning-rate", "1e-3"]
    argv += ["--use-policy-tokens", "false", "--epochs", "2"]
    assert main(argv) == 0
    assert "preference accuracy" in capsys.readouterr().out
    estimator = OPRLEstimator.from_pretrained(out)
    assert estimator.config.beta == 0.2 and estimator.config.use_policy_tokens is False
    assert main(["progress", "score", "--estimator", str(out), "--trajectories", str(data)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == len(mixed_trajectories)
