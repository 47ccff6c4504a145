"""Step-level Q-value models: MCTS annotation on Maze, preference pairs, step-level DPO and the estimator."""

from __future__ import annotations

import math
import random

import pytest

import agentgym
from agentgym.agents.base import Agent, AgentOutput
from agentgym.env import Env
from agentgym.rollout import RolloutConfig, rollout
from agentgym.tasks import TaskSet
from agentgym.types import Message, Task, Trajectory
from agentgym.verifiers.progress import NoContrastError
from agentgym.verifiers.progress.tree_search import (
    SearchNode,
    SearchTree,
    annotate_tree_search,
    backpropagate,
    select_child,
    uct,
)

from .conftest import MAZE, MAZE_KWARGS, play_text_episodes

#: Train tasks whose exit is 4 moves away: searched with max_depth=4, only the expert's moves can win.
TRAIN_TASKS = [f"maze-3x3-s{seed:07d}" for seed in (1, 4, 6, 10, 14, 19)]


class EpsilonExpert(Agent):
    """The expert's move, or with probability `epsilon` a random admissible one."""

    def __init__(self, epsilon: float, seed: int = 0):
        self.epsilon, self.rng = epsilon, random.Random(seed)

    async def act(self, messages, tools=None, *, info=None):
        if self.rng.random() < self.epsilon:
            return AgentOutput(text=self.rng.choice(info["admissible_actions"]))
        return AgentOutput(text=info["expert_action"])


class ForkEnv(Env):
    """One step: "right" wins (reward 1), "left" loses (terminated, no success), anything else waits."""

    system_prompt = "Choose left or right."

    def splits(self):
        return ("train",)

    def task_set(self, split):
        return TaskSet(split, [Task(id="fork-0", split=split, instruction="Pick a side.")])

    def _start(self, task, seed):
        return "A fork in the road.", self._info()

    def _act(self, action):
        if action.command == "right":
            return "You win.", 1.0, True, False, {**self._info(), "success": True}
        if action.command == "left":
            return "You fall into a pit.", 0.0, True, False, self._info()
        return "Nothing happens.", 0.0, False, False, self._info()

    def _info(self):
        return {"admissible_actions": ["left", "right", "wait"]}


agentgym.register("agentgym-test/Fork-v0", entry_point=f"{__name__}:ForkEnv", max_episode_steps=5)


def maze_info(task_id: str, actions=()) -> dict:
    env = agentgym.make(MAZE, **MAZE_KWARGS)
    return agentgym.replay(env, task_id, 0, list(actions), split="train").info


# ----- UCT and back-propagation -----------------------------------------------------------------------------
def node(visits: int, value_sum: float, action: str) -> SearchNode:
    return SearchNode(depth=1, action=action, visits=visits, value_sum=value_sum)


def test_uct_follows_its_formula_and_tries_unvisited_children_first():
    parent = SearchNode(visits=10)
    parent.children = [node(5, 2.5, "a"), node(1, 0.0, "b"), node(4, 3.0, "c")]
    for child in parent.children:
        child.parent = parent
    # Q(s,a) + c sqrt(ln N(s) / N(s,a)): a = .5 + .68, b = 0 + 1.52, c = .75 + .76
    expected = {c.action: c.q + math.sqrt(math.log(10) / c.visits) for c in parent.children}
    assert [uct(c, 10, 1.0) for c in parent.children] == pytest.approx(list(expected.values()))
    assert select_child(parent, 1.0).action == "b"  # the least tried wins on exploration
    assert select_child(parent, 0.0).action == "c"  # pure exploitation: the highest mean
    assert select_child(parent, 0.2).action == "c"
    parent.children.append(node(0, 0.0, "d"))
    parent.children[3].parent = parent
    assert select_child(parent, 0.0).action == "d"  # never tried: +inf

    backpropagate(parent.children[3], -1.0)
    assert (parent.visits, parent.value_sum) == (11, -1.0)
    assert parent.children[3].q == -1.0


# ----- tree search on Maze --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def maze_trees():
    # one task at a time: the agent's draws then come in a fixed order, and the search is reproducible
    return annotate_tree_search(
        MAZE,
        TRAIN_TASKS,
        EpsilonExpert(0.3, seed=0),
        env_kwargs=MAZE_KWARGS,
        iterations=30,
        branching=4,
        max_depth=4,
        concurrency=1,
        progress=False,
    )


def test_tree_search_finds_the_exit_and_values_the_expert_move_highest(maze_trees):
    env = agentgym.make(MAZE, **MAZE_KWARGS)
    for tree in maze_trees:
        info = maze_info(tree.task_id)
        assert info["distance_to_exit"] == 4
        assert tree.solved, tree.task_id
        assert tree.root.visits == tree.iterations == 30
        best = max((c for c in tree.root.children if c.visits), key=lambda c: c.q)
        assert best.action == info["expert_action"]
        assert best.q > -1.0
        assert all(c.q == -1.0 for c in tree.root.children if c is not best)  # no slack for a detour
        # a greedy walk by Q reaches the exit
        reached = agentgym.replay(env, tree.task_id, 0, tree.best_actions(), split="train")
        assert reached.info["success"], (tree.task_id, tree.best_actions())
        for n in tree.nodes():
            assert -1.0 <= n.q <= 1.0
            assert n.visits >= sum(c.visits for c in n.children)
            assert len({c.action for c in n.children}) == len(n.children)  # identical actions merged
            if n.success:
                assert n.q == 1.0
            if n is not tree.root:  # each state is the one replaying its actions reaches
                assert (
                    agentgym.replay(env, tree.task_id, 0, n.actions, split="train").observation
                    == n.observation
                )


def test_the_agent_sees_the_conversation_the_rollout_engine_builds(maze_trees):
    tree = maze_trees[0]
    child = next(c for c in tree.root.children if c.children)
    grandchild = child.children[0]
    config = RolloutConfig(
        MAZE,
        env_kwargs=MAZE_KWARGS,
        split="train",
        task_ids=[tree.task_id],
        max_turns=2,
        workers=0,
        progress=False,
    )
    [expert] = rollout(_Fixed([child.action, grandchild.action]), config).trajectories
    expected = [*expert.messages]
    for turn in expert.turns:
        expected += [
            Message(role="assistant", content=turn.agent_text),
            Message(role="user", content=turn.observation),
        ]
    assert tree.messages(grandchild) == expected
    assert tree.messages(tree.root) == expert.messages
    assert expert.messages[0].role == "system"


class _Fixed(Agent):
    def __init__(self, actions):
        self.actions = actions

    async def act(self, messages, tools=None, *, info=None):
        return AgentOutput(text=self.actions[(len(messages) - 2) // 2])


def test_failed_and_cut_off_episodes_are_valued_minus_one():
    # a large exploration constant spreads the visits, so that "wait" is expanded too
    [tree] = annotate_tree_search(
        "agentgym-test/Fork-v0",
        ["fork-0"],
        _Cycle(["left", "right", "wait"]),
        iterations=20,
        branching=3,
        max_depth=2,
        exploration=10.0,
        progress=False,
    )
    children = {c.action: c for c in tree.root.children}
    assert set(children) == {"left", "right", "wait"}
    assert children["left"].terminated and not children["left"].success and children["left"].q == -1.0
    assert children["right"].success and children["right"].q == 1.0
    # "wait" then anything but "right" fails or is cut off at depth 2: its mean lies strictly between
    assert -1.0 < children["wait"].q < 1.0
    assert children["wait"].children
    for grandchild in children["wait"].children:
        assert grandchild.terminal
        assert grandchild.q == (1.0 if grandchild.action == "right" else -1.0)
        assert grandchild.truncated == (grandchild.action == "wait")

    # Maze cut off after one move: never the exit, every value -1, so no preference to learn
    trees = annotate_tree_search(
        MAZE,
        TRAIN_TASKS[:2],
        EpsilonExpert(0.5),
        env_kwargs=MAZE_KWARGS,
        iterations=6,
        max_depth=1,
        progress=False,
    )
    assert all(n.q == -1.0 and n.truncated for t in trees for n in t.nodes() if n.visits and n is not t.root)
    from agentgym.verifiers.progress.qvalue import step_preference_pairs

    with pytest.raises(NoContrastError, match="no state among 2 trees"):
        step_preference_pairs(trees)


class _Cycle(Agent):
    def __init__(self, actions):
        self.actions, self.calls = actions, 0

    async def act(self, messages, tools=None, *, info=None):
        self.calls += 1
        return AgentOutput(text=self.actions[(self.calls - 1) % len(self.actions)])


# ----- preference pairs -----------------------------------------------------------------------------------
def reply(text: str) -> Message:
    return Message(role="assistant", content=text)


def child_of(parent: SearchNode, action: str, visits: int, value_sum: float) -> SearchNode:
    child = SearchNode(
        depth=parent.depth + 1,
        action=action,
        reply=reply(action),
        response=[Message(role="user", content=f"after {action}")],
        parent=parent,
        visits=visits,
        value_sum=value_sum,
    )
    parent.children.append(child)
    return child


def test_step_preference_pairs_on_a_hand_built_tree():
    from agentgym.verifiers.progress.qvalue import step_preference_pairs

    opening = [Message(role="system", content="rules"), Message(role="user", content="start")]
    root = SearchNode(visits=9)
    a = child_of(root, "go east", 4, 2.0)  # Q .5
    b = child_of(root, "go west", 3, -3.0)  # Q -1
    child_of(root, "look", 2, 0.0)  # Q 0: neither best nor worst
    child_of(root, "go north", 0, 0.0)  # never evaluated: ignored
    child_of(a, "go south", 2, 2.0)  # Q 1 and Q 1: equal, no pair
    child_of(a, "go east", 1, 1.0)
    child_of(b, "look", 2, -2.0)  # a single child: no pair
    deep = child_of(a.children[0], "go west", 1, 1.0)
    child_of(a.children[0], "look", 1, -1.0)
    tree = SearchTree(MAZE, "t", 0, "train", opening, root)

    pairs = step_preference_pairs([tree])
    assert len(pairs) == 2
    first, second = pairs[0], pairs[1]
    assert first["prompt"] == [{"role": "system", "content": "rules"}, {"role": "user", "content": "start"}]
    assert first["chosen"] == [{"role": "assistant", "content": "go east"}]
    assert first["rejected"] == [{"role": "assistant", "content": "go west"}]
    assert (first["chosen_q"], first["rejected_q"], first["depth"]) == (0.5, -1.0, 0)
    assert second["prompt"] == [m.to_openai() for m in tree.messages(a.children[0])]
    assert (
        second["prompt"][-2:]
        == [
            {"role": "assistant", "content": "go east"},
            {"role": "user", "content": "after go east"},
            {"role": "assistant", "content": "go south"},
            {"role": "user", "content": "after go south"},
        ][-2:]
    )
    assert second["chosen"][0]["content"] == deep.action and second["rejected"][0]["content"] == "look"

    assert len(step_preference_pairs([tree], min_gap=1.6)) == 1  # only the gap of 2 remains
    with pytest.raises(NoContrastError):
        step_preference_pairs([tree], min_gap=2.0)


# ----- step-level DPO and the estimator ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def maze_pairs(maze_trees):
    from agentgym.verifiers.progress.qvalue import step_preference_pairs

    return step_preference_pairs(maze_trees)


@pytest.fixture(scope="module")
def q_model_dir(tiny_model_dir, maze_pairs, tmp_path_factory):
    from agentgym.verifiers.progress.qvalue import train_q_model

    out = tmp_path_factory.mktemp("q-model")
    return train_q_model(
        maze_pairs,
        str(tiny_model_dir),
        out,
        learning_rate=3e-3,
        epochs=4,
        batch_size=8,
        beta=0.1,
        progress=False,
    )


def margins(estimator, pairs) -> list[float]:
    out = []
    for row in pairs:
        chosen, rejected = estimator.score_actions(
            row["prompt"], [row["chosen"][0]["content"], row["rejected"][0]["content"]]
        )
        out.append(chosen - rejected)
    return out


@pytest.mark.hf
def test_step_level_dpo_raises_the_margin_of_the_preferred_actions(tiny_model_dir, maze_pairs, q_model_dir):
    from agentgym.verifiers.progress import QValueEstimator

    assert len(maze_pairs) >= 10
    untrained = QValueEstimator(str(tiny_model_dir), str(tiny_model_dir))
    assert margins(untrained, maze_pairs) == [0.0] * len(maze_pairs)  # Q-model = reference: Q = 0

    trained = QValueEstimator.from_pretrained(q_model_dir)
    assert trained.reference_source == str(tiny_model_dir.resolve())  # the initial model, recorded
    after = margins(trained, maze_pairs)
    assert sum(after) / len(after) > 0.05
    assert sum(m > 0 for m in after) >= 0.8 * len(after)


@pytest.mark.hf
def test_scores_are_beta_times_the_log_ratio_of_the_reply_tokens(q_model_dir, tiny_model_dir):
    import torch

    from agentgym.verifiers.progress import QValueEstimator

    estimator = QValueEstimator.from_pretrained(q_model_dir, beta=0.5)
    messages = [
        Message(role="system", content="rules"),
        Message(role="user", content="Open directions: north."),
    ]
    tok = estimator.tokenizer
    prompt = tok.apply_chat_template([m.to_openai() for m in messages], add_generation_prompt=True)[
        "input_ids"
    ]
    reply_ids = tok.encode("go north", add_special_tokens=False) + [
        tok.eos_token_id
    ]  # the reply, then <|end|>

    def logp(model):
        ids = torch.tensor([prompt + reply_ids])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prompt) - 1 : -1].float()
        return logits.log_softmax(-1).gather(-1, torch.tensor(reply_ids)[:, None]).squeeze(-1)

    ratio = logp(estimator.model) - logp(estimator.reference)
    [score] = estimator.score_actions(messages, ["go north"])
    assert score == pytest.approx(0.5 * float(ratio.sum()), abs=1e-5)
    mean = QValueEstimator.from_pretrained(q_model_dir, beta=0.5, reduce="mean")
    assert mean.score_actions(messages, ["go north"])[0] == pytest.approx(0.5 * float(ratio.mean()), abs=1e-5)


@pytest.mark.hf
def test_step_rewards_score_each_reply_given_the_conversation_before_it(q_model_dir, tmp_path):
    from agentgym.verifiers.progress import QValueEstimator, estimator_class

    assert estimator_class("qvalue") is QValueEstimator
    estimator = QValueEstimator.from_pretrained(q_model_dir, batch_size=2)
    trajectories = play_text_episodes(EpsilonExpert(0.5, seed=3), num_tasks=3, max_turns=4)
    rewards = estimator.step_rewards_batch(trajectories)
    for trajectory, per_turn in zip(trajectories, rewards, strict=True):
        assert len(per_turn) == len(trajectory.turns)
        history = list(trajectory.messages)
        for turn, reward in zip(trajectory.turns, per_turn, strict=True):
            assert reward == pytest.approx(estimator.score_actions(history, [turn.agent_text])[0], abs=1e-5)
            history += [
                Message(role="assistant", content=turn.agent_text),
                Message(role="user", content=turn.observation),
            ]
    assert estimator.step_rewards(trajectories[1]) == pytest.approx(rewards[1], abs=1e-5)
    assert estimator.step_rewards(Trajectory(env_id=MAZE, task_id="t")) == []

    # a short max_length cuts the oldest tokens and still scores every turn
    short = QValueEstimator.from_pretrained(q_model_dir, max_length=40)
    assert all(
        len(r) == len(t.turns)
        for r, t in zip(short.step_rewards_batch(trajectories), trajectories, strict=True)
    )

    # saved again (reference recorded by path) and reloaded: the same scores
    estimator.save_pretrained(tmp_path / "copy")
    again = QValueEstimator.from_pretrained(tmp_path / "copy")
    reloaded = again.step_rewards_batch(trajectories)
    assert [r for per_turn in reloaded for r in per_turn] == pytest.approx(
        [r for p in rewards for r in p], abs=1e-6
    )


@pytest.mark.hf
def test_a_reference_without_a_folder_is_saved_with_the_q_model(q_model_dir, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from agentgym.errors import ConfigError
    from agentgym.verifiers.progress import QValueEstimator

    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir)  # an object: no path to record
    estimator = QValueEstimator(str(q_model_dir), reference)
    estimator.save_pretrained(tmp_path / "q")
    assert (tmp_path / "q" / "reference" / "config.json").is_file()
    messages = [Message(role="user", content="Open directions: east, west.")]
    reloaded = QValueEstimator.from_pretrained(tmp_path / "q")
    assert reloaded.score_actions(messages, ["go east", "go west"]) == pytest.approx(
        estimator.score_actions(messages, ["go east", "go west"]), abs=1e-6
    )
    with pytest.raises(ConfigError, match="unknown QValueEstimator option"):
        QValueEstimator.from_pretrained(q_model_dir, temperature=2)
    with pytest.raises(ConfigError, match="not a saved progress estimator"):
        QValueEstimator.from_pretrained(tiny_model_dir)


@pytest.mark.hf
def test_train_q_model_without_pairs_is_an_error(tiny_model_dir, tmp_path):
    from agentgym.verifiers.progress.qvalue import train_q_model

    with pytest.raises(NoContrastError):
        train_q_model([], str(tiny_model_dir), tmp_path / "q")


@pytest.mark.hf
def test_cli_searches_trains_and_saves_a_q_model_with_its_pairs(tiny_model_dir, tmp_path, capsys):
    """`agentgym progress train qvalue`: the search the Python API runs, its pairs, a Q-model from them."""
    import json

    from agentgym.agents import RandomAgent
    from agentgym.cli import main
    from agentgym.verifiers.progress import QValueEstimator
    from agentgym.verifiers.progress.qvalue import step_preference_pairs

    out = tmp_path / "q"
    search = ["--iterations", "20", "--max-depth", "8", "--concurrency", "1", "--seed", "3"]
    argv = [
        "progress",
        "train",
        "qvalue",
        MAZE,
        "--agent",
        "random",
        "--env-arg",
        "width=3",
        "--env-arg",
        "height=3",
    ]
    argv += ["--task-id", TRAIN_TASKS[0], "--task-id", TRAIN_TASKS[1], *search]
    argv += [
        "--q-init",
        str(tiny_model_dir),
        "--out",
        str(out),
        "--lr",
        "1e-3",
        "--beta",
        "0.2",
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "searched 2 tasks" in printed and f"--q-model {out}" in printed

    trees = annotate_tree_search(
        MAZE,
        TRAIN_TASKS[:2],
        RandomAgent(seed=3),
        env_kwargs=MAZE_KWARGS,
        iterations=20,
        max_depth=8,
        concurrency=1,
        seed=3,
        progress=False,
    )
    expected = [(p["task_id"], p["chosen"], p["rejected"]) for p in step_preference_pairs(trees)]
    saved = [json.loads(line) for line in (out / "step_pairs.jsonl").read_text().splitlines()]
    assert expected and [(p["task_id"], p["chosen"], p["rejected"]) for p in saved] == expected
    assert f"{len(expected)} step preference pairs" in printed
    assert QValueEstimator.from_pretrained(out).beta == 0.2

    random_without_q_init = argv[:4] + ["--agent", "random", "--out", str(tmp_path / "x")]
    assert main(random_without_q_init) == 2
    assert "--q-init" in capsys.readouterr().err
