"""SPA: contributions regressed to outcomes, read at the last token of each reply, plus the grounding bonus."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import pytest

from agentgym.errors import ConfigError
from agentgym.types import write_jsonl
from agentgym.verifiers.progress.base import NoContrastError, ProgressEstimatorError, outcome
from agentgym.verifiers.progress.spa import SPAConfig, SPAEstimator, train_spa

pytestmark = pytest.mark.hf

FAST = SPAConfig(learning_rate=3e-3, epochs=20, batch_size=4, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A model this small runs fastest on one thread (more spin against each other on a busy machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(mixed_trajectories, tiny_model_dir):
    return train_spa(mixed_trajectories, tiny_model_dir, config=FAST, progress=False)


def test_training_fits_outcomes_and_separates_won_from_lost(trained, tiny_model_dir, mixed_trajectories):
    untrained = SPAEstimator.from_causal_lm(tiny_model_dir, config=FAST)
    assert all(
        c == 0.0 for t in mixed_trajectories for c in untrained.contributions(t)
    )  # the head starts at 0
    before = untrained.regression_metrics(mixed_trajectories)
    after = trained.regression_metrics(mixed_trajectories)
    assert after["loss"] < 0.25 * before["loss"]
    assert after["correlation"] > 0.8
    assert [h["epoch"] for h in trained.history] == list(range(1, FAST.epochs + 1))
    assert trained.history[-1]["loss"] < 0.25 * trained.history[0]["loss"]

    sums = {id(t): sum(trained.contributions(t)) for t in mixed_trajectories}
    won = [sums[id(t)] for t in mixed_trajectories if outcome(t) == 1.0]
    lost = [sums[id(t)] for t in mixed_trajectories if outcome(t) == 0.0]
    assert len(won) + len(lost) == len(mixed_trajectories) and won and lost
    assert min(won) > max(lost)


@pytest.mark.parametrize("view", ["text", "policy"])
def test_head_is_read_at_the_last_token_of_each_reply(trained, mixed_trajectories, policy_trajectories, view):
    import torch

    estimator = SPAEstimator(
        trained.model, trained.tokenizer, replace(FAST, use_policy_tokens=view == "policy")
    )
    for trajectory in (mixed_trajectories if view == "text" else policy_trajectories)[:4]:
        encoded = estimator.encode(trajectory)
        with torch.no_grad():
            head = trained.model(torch.tensor([encoded.input_ids])).logits[0, :, 0]
        expected = head[[end - 1 for _, end in encoded.turn_spans]].tolist()
        assert estimator.contributions(trajectory) == pytest.approx(expected, abs=1e-5)


def test_contribution_ignores_everything_after_its_reply(trained, mixed_trajectories):
    trajectory = next(t for t in mixed_trajectories if len(t.turns) >= 3)
    original = trained.contributions(trajectory)
    changed = trajectory.model_copy(deep=True)
    changed.turns[0].observation = "A wall blocks the way west. Open directions: east."
    changed.turns[1].agent_text = "look"
    edited = trained.contributions(changed)
    assert edited[0] == pytest.approx(original[0], abs=1e-6)  # c_0 sees nothing after reply 0
    assert max(abs(a - b) for a, b in zip(edited[1:], original[1:], strict=True)) > 1e-4


def test_replies_past_max_length_get_zero(trained, mixed_trajectories):
    trajectory = next(t for t in mixed_trajectories if len(t.turns) >= 3)
    full = trained.contributions(trajectory)
    limit = trained.encode(trajectory).turn_spans[1][1]
    short = SPAEstimator(trained.model, trained.tokenizer, replace(FAST, max_length=limit))
    cut = short.contributions(trajectory)
    assert len(cut) == len(trajectory.turns)
    assert cut[:2] == pytest.approx(full[:2], abs=1e-6)
    assert cut[2:] == [0.0] * (len(trajectory.turns) - 2)


def test_step_reward_adds_grounding_weight_for_executed_actions(trained, mixed_trajectories):
    trajectory = next(t for t in mixed_trajectories if len(t.turns) >= 3).model_copy(deep=True)
    for turn, valid in zip(trajectory.turns, [True, False, None], strict=False):
        turn.action_valid = valid
    contributions = trained.contributions(trajectory)
    estimator = SPAEstimator(
        trained.model, trained.tokenizer, replace(FAST, contribution_weight=2.0, grounding_weight=0.5)
    )
    grounding = [r - 2.0 * c for r, c in zip(estimator.step_rewards(trajectory), contributions, strict=True)]
    expected = [0.5 if turn.action_valid is True else 0.0 for turn in trajectory.turns]
    assert grounding == pytest.approx(expected, abs=1e-6)
    assert expected[:3] == [0.5, 0.0, 0.0]


def test_batched_rewards_match_one_at_a_time(trained, mixed_trajectories):
    estimator = SPAEstimator(trained.model, trained.tokenizer, replace(FAST, inference_batch_size=5))
    batched = estimator.step_rewards_batch(mixed_trajectories)
    assert [len(r) for r in batched] == [len(t.turns) for t in mixed_trajectories]
    for rewards, trajectory in zip(batched, mixed_trajectories, strict=True):
        assert rewards == pytest.approx(estimator.step_rewards(trajectory), abs=1e-5)


def test_save_and_load_give_identical_rewards(trained, mixed_trajectories, tmp_path):
    trained.save_pretrained(tmp_path / "spa")
    record = json.loads((tmp_path / "spa" / "progress_estimator.json").read_text())
    assert record == {"kind": "spa", "options": asdict(FAST)}
    loaded = SPAEstimator.from_pretrained(tmp_path / "spa")
    assert loaded.config == FAST
    assert loaded.step_rewards_batch(mixed_trajectories) == trained.step_rewards_batch(mixed_trajectories)

    no_bonus = SPAEstimator.from_pretrained(tmp_path / "spa", grounding_weight=0.0)
    assert no_bonus.step_rewards(mixed_trajectories[0]) == pytest.approx(
        trained.contributions(mixed_trajectories[0]), abs=1e-6
    )
    with pytest.raises(ConfigError, match="bogus"):
        SPAEstimator.from_pretrained(tmp_path / "spa", bogus=1)


def test_training_continues_from_a_saved_estimator(trained, mixed_trajectories, tmp_path):
    trained.save_pretrained(tmp_path / "spa")
    continued = train_spa(
        mixed_trajectories, tmp_path / "spa", config=replace(FAST, epochs=1), progress=False
    )
    assert continued.history[0]["loss"] < 0.2  # a fresh zero head starts at mean(R²) = 0.5


def test_train_spa_needs_a_scalar_head_and_a_tokenizer(mixed_trajectories, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    causal = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    with pytest.raises(ConfigError, match="from_causal_lm"):
        train_spa(mixed_trajectories, causal, tokenizer=object(), config=FAST, progress=False)
    with pytest.raises(ConfigError, match="without its tokenizer"):
        train_spa(mixed_trajectories, causal, config=FAST, progress=False)


def test_loading_a_plain_causal_lm_as_an_estimator_fails(tiny_model_dir):
    with pytest.raises(ConfigError, match="not a saved progress estimator"):
        SPAEstimator.from_pretrained(tiny_model_dir)


def test_policy_view_needs_token_ids(trained, mixed_trajectories):
    estimator = SPAEstimator(trained.model, trained.tokenizer, replace(FAST, use_policy_tokens=True))
    with pytest.raises(ProgressEstimatorError, match="token_ids"):
        estimator.step_rewards(mixed_trajectories[0])


def test_training_without_contrast_raises(mixed_trajectories, tiny_model_dir):
    won = [t for t in mixed_trajectories if t.success]
    with pytest.raises(NoContrastError, match="same outcome"):
        train_spa(won, tiny_model_dir, config=FAST, progress=False)


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate", 0.0),
        ("epochs", 0),
        ("batch_size", 1.5),
        ("max_length", "long"),
        ("grounding_weight", math.nan),
        ("contribution_weight", None),
        ("weight_decay", -1.0),
        ("lr_schedule", "cosine"),
        ("warmup_ratio", 1.0),
        ("use_policy_tokens", "yes"),
        ("seed", True),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        SPAConfig(**{field: value})


def run_cli(argv: list[str]) -> int:
    """`agentgym ...` in this process."""
    from agentgym.cli import main

    return main(argv)


def test_cli_trains_saves_and_scores(mixed_trajectories, tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "trajectories.jsonl"
    write_jsonl(data, mixed_trajectories)
    out = tmp_path / "spa"
    argv = ["progress", "train", "spa", "--trajectories", str(data), "--model", str(tiny_model_dir)]
    argv += [
        "--out",
        str(out),
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--grounding-weight",
        "0.25",
        "--no-progress",
    ]
    argv += [
        "--lr-schedule",
        "linear",
        "--warmup-ratio",
        "0.5",
        "--use-policy-tokens",
        "--no-use-policy-tokens",
    ]
    assert run_cli(argv) == 0
    printed = capsys.readouterr().out
    assert "final training loss" in printed and "correlation" in printed
    assert f"Estimator saved to {out}" in printed

    estimator = SPAEstimator.from_pretrained(out)
    expected_config = replace(
        SPAConfig(),
        epochs=2,
        learning_rate=3e-3,
        grounding_weight=0.25,
        lr_schedule="linear",
        warmup_ratio=0.5,
    )
    assert estimator.config == expected_config
    assert run_cli(["progress", "score", "--estimator", str(out), "--trajectories", str(data)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["task_id"], r["sample"]) for r in rows] == [(t.task_id, t.sample) for t in mixed_trajectories]
    expected = estimator.step_rewards_batch(mixed_trajectories)
    for row, rewards in zip(rows, expected, strict=True):
        assert row["step_rewards"] == pytest.approx(rewards, abs=1e-6)

    assert run_cli(argv[:4] + [str(tmp_path / "missing.jsonl")] + argv[5:]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
