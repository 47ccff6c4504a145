"""Monte Carlo tree search over an environment's episodes: step-level Q values for the actions an agent tries.

Zhai et al. (2024), "Enhancing Decision-Making for LLM Agents via Step-Level Q-Value Models": an LLM agent
explores each task with MCTS, and look-ahead simulations spread the sparse terminal reward over the actions
on the way, as a Q value for every action tried in every state. Those values become step-level preference
pairs (`agentgym.verifiers.progress.qvalue.step_preference_pairs`) for a Q-value model.

One iteration of `annotate_tree_search`, from the root s_0 (the task's first observation):

1. Selection: while the node has children, go to the child that maximises

       UCT(s, a) = Q(s, a) + c · sqrt( ln N(s) / N(s, a) )

   (a child never tried, N(s, a) = 0, comes first); stop at a child tried for the first time.
2. Expansion: at a leaf tried before (or the root), sample `branching` actions a ~ π(· | h) from the agent
   (identical actions merged) and add one child per distinct action; go to the first of them.
3. Simulation: from that child, play the agent to the end of the episode. Its value

       v = R   (the episode's reward, Σ r_t: 1 for a won Maze) if it succeeded,
       v = −1  if it ended in failure or was cut off at `max_depth` actions.

   A child that is itself terminal is valued the same way without playing on.
4. Back-propagation: every (s, a) on the path gets N(s, a) ← N(s, a) + 1 and
   Q(s, a) ← Q(s, a) + (v − Q(s, a)) / N(s, a), the mean of the values backed up through it; N(s) counts
   the visits of the node itself.

States are never copied: environments are deterministic, so a node's state is rebuilt with
`agentgym.replay` (reset with the task and seed, play the actions from the root). The agent sees the
conversation as the rollout engine builds it: the system prompt (`info["system_prompt"]`) and the first
observation, then per turn its reply and the observation (or the tool results), windowed by `history`.

>>> trees = annotate_tree_search("agentgym/Maze-v0", ["maze-3x3-s0000000"], RandomAgent(seed=0),
...                              env_kwargs={"width": 3, "height": 3}, iterations=30)   # doctest: +SKIP
>>> [(child.action, round(child.q, 2)) for child in trees[0].root.children]            # doctest: +SKIP
[('go east', 0.6), ('look', -0.33), ('go south', -1.0)]
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from agentgym.agents.base import Agent, AgentOutput
from agentgym.errors import AgentGymError, ConfigError
from agentgym.parsers import encode_tool_calls
from agentgym.registration import card, make
from agentgym.replay import Replayed, replay
from agentgym.rollout.config import DEFAULT_MAX_TURNS
from agentgym.rollout.history import ChatHistory, HistoryPolicy
from agentgym.types import Message

#: The value of an episode that failed or hit the depth limit (the paper's −1).
FAILURE_VALUE = -1.0


@dataclass(eq=False)
class SearchNode:
    """A state of the tree: reached from `parent` by `action`, the agent's reply `reply`.

    `visits` is N(s, a) of the edge into this node (N(s) when read as the parent of other nodes) and
    `value_sum` the sum of the values backed up through it, so `q` is Q(s, a). `response` holds the
    messages that followed the reply (the observation as a user message, or tool results).
    """

    depth: int = 0
    action: str | None = None
    reply: Message | None = None
    response: list[Message] = field(default_factory=list)
    observation: str = ""
    info: dict[str, Any] = field(default_factory=dict, repr=False)
    reward: float = 0.0  # the reward of the step into this node
    terminated: bool = False
    truncated: bool = False
    success: bool = False
    parent: SearchNode | None = field(default=None, repr=False)
    children: list[SearchNode] = field(default_factory=list, repr=False)
    visits: int = 0
    value_sum: float = 0.0

    @property
    def q(self) -> float:
        """Q(s, a): the mean of the values backed up through this node (0 before its first visit)."""
        return self.value_sum / self.visits if self.visits else 0.0

    @property
    def terminal(self) -> bool:
        return self.terminated or self.truncated

    @property
    def path(self) -> list[SearchNode]:
        """The nodes from the root's first child down to this one."""
        nodes, node = [], self
        while node.parent is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]

    @property
    def actions(self) -> list[str]:
        """The action texts that lead from the root to this node (what `replay` plays)."""
        return [node.action for node in self.path if node.action is not None]

    @property
    def returns(self) -> float:
        """The rewards earned from the root to this node, Σ r_t."""
        return sum(node.reward for node in self.path)


@dataclass(eq=False)
class SearchTree:
    """The search of one task: its root (the first observation), opening messages and history policy."""

    env_id: str
    task_id: str
    seed: int | None
    split: str
    opening: list[Message]
    root: SearchNode
    history: str = "full"
    tools: list[dict[str, Any]] | None = None
    iterations: int = 0

    def messages(self, node: SearchNode) -> list[Message]:
        """The conversation the agent sees when it acts at `node` (its history h)."""
        history = ChatHistory(self.opening, HistoryPolicy.parse(self.history))
        for step in node.path:
            history.add_turn([step.reply, *step.response])
        return history.window()

    def nodes(self) -> Iterator[SearchNode]:
        """Every node, depth first from the root."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    @property
    def solved(self) -> bool:
        """Whether the search reached a successful end anywhere in the tree."""
        return any(node.success for node in self.nodes())

    def best_actions(self) -> list[str]:
        """The greedy path by Q: from the root, the visited child with the highest Q, until a leaf."""
        actions, node = [], self.root
        while True:
            visited = [child for child in node.children if child.visits]
            if not visited:
                return actions
            node = max(visited, key=lambda child: child.q)
            actions.append(node.action)


def uct(child: SearchNode, parent_visits: int, exploration: float) -> float:
    """UCT(s, a) = Q(s, a) + c · sqrt(ln N(s) / N(s, a)); +inf for a child never tried."""
    if child.visits == 0:
        return math.inf
    return child.q + exploration * math.sqrt(math.log(max(parent_visits, 1)) / child.visits)


def select_child(node: SearchNode, exploration: float) -> SearchNode:
    """The child with the highest UCT (the first of equals, so the search is reproducible)."""
    if not node.children:
        raise AgentGymError("select_child: the node has no children to select from")
    return max(node.children, key=lambda child: uct(child, node.visits, exploration))


def terminal_value(node: SearchNode, failure_value: float = FAILURE_VALUE) -> float:
    """v of an ended episode: its reward Σ r_t when it succeeded, else `failure_value` (−1)."""
    return node.returns if node.success else failure_value


def backpropagate(node: SearchNode, value: float) -> None:
    """Add one visit and `value` to `node` and every node above it, the root included."""
    current: SearchNode | None = node
    while current is not None:
        current.visits += 1
        current.value_sum += value
        current = current.parent


# ----- the search ------------------------------------------------------------------------------------------
def annotate_tree_search(
    env_id: str,
    task_ids: Sequence[str],
    agent: Agent,
    *,
    env_kwargs: dict[str, Any] | None = None,
    split: str = "train",
    iterations: int = 50,
    branching: int = 4,
    max_depth: int | None = None,
    exploration: float = 1.0,
    seed: int | None = 0,
    history: str = "full",
    concurrency: int = 8,
    failure_value: float = FAILURE_VALUE,
    progress: bool = True,
) -> list[SearchTree]:
    """Run MCTS (see the module docstring) on each task of `task_ids`; one `SearchTree` per task, in order.

    Args:
        env_id: a registered environment id; it must be deterministic (all agentgym environments are).
        task_ids: tasks of `split` to search.
        agent: any agentgym `Agent`; it proposes the actions of expansions and plays the simulations, so it
            must sample (an LLM at temperature > 0, `RandomAgent`): a greedy agent gives one child per node.
        env_kwargs: keyword arguments of the environment's constructor.
        iterations: MCTS iterations per task (selection, expansion, simulation, back-propagation).
        branching: actions sampled at each expansion (fewer children when some are identical).
        max_depth: most actions from the root; an episode that reaches it unfinished is valued −1.
            Default: the environment's step limit.
        exploration: c of UCT.
        seed: the environment's reset seed for every task.
        history: what the agent is shown, as in `RolloutConfig.history` ("full" or "last:K").
        concurrency: tasks searched at once (their agent calls batch together in a local model). With
            more than one, the order of agent calls depends on timing, so a seeded agent's draws, and the
            trees, can differ between runs; 1 makes the search reproducible.
        failure_value: the value of a failed or cut-off episode (−1 in the paper).
        progress: show a progress bar over iterations (tasks × iterations).

    Runs its own event loop; in async code use `await search_tasks(...)`, which takes the same arguments.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(
            search_tasks(
                env_id,
                task_ids,
                agent,
                env_kwargs=env_kwargs,
                split=split,
                iterations=iterations,
                branching=branching,
                max_depth=max_depth,
                exploration=exploration,
                seed=seed,
                history=history,
                concurrency=concurrency,
                failure_value=failure_value,
                progress=progress,
            )
        )
    raise ConfigError(
        "annotate_tree_search() cannot run inside a running event loop; use `await search_tasks(...)` there"
    )


async def search_tasks(
    env_id: str,
    task_ids: Sequence[str],
    agent: Agent,
    *,
    env_kwargs: dict[str, Any] | None = None,
    split: str = "train",
    iterations: int = 50,
    branching: int = 4,
    max_depth: int | None = None,
    exploration: float = 1.0,
    seed: int | None = 0,
    history: str = "full",
    concurrency: int = 8,
    failure_value: float = FAILURE_VALUE,
    progress: bool = True,
) -> list[SearchTree]:
    """`annotate_tree_search` for async code."""
    for name, value, least in (("iterations", iterations, 1), ("branching", branching, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{name} must be an int >= {least}, got {value!r}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be an int >= 1, got {concurrency!r}")
    if not isinstance(exploration, int | float) or exploration < 0:
        raise ConfigError(f"exploration must be a number >= 0, got {exploration!r}")
    HistoryPolicy.parse(history)
    if max_depth is None:
        max_depth = card(env_id).max_episode_steps or DEFAULT_MAX_TURNS
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise ConfigError(f"max_depth must be an int >= 1, got {max_depth!r}")
    task_ids = list(task_ids)
    if not task_ids:
        raise ConfigError("annotate_tree_search needs at least one task id")
    kwargs = dict(env_kwargs or {})
    kwargs.setdefault("max_episode_steps", max_depth)  # the environment's own limit must not cut shorter

    bar = tqdm(
        total=len(task_ids) * iterations,
        unit="it",
        desc=f"tree search {env_id}",
        disable=None if progress else True,
    )
    slots = asyncio.Semaphore(concurrency)
    solved = 0

    async def one(task_id: str) -> SearchTree:
        nonlocal solved
        async with slots:
            search = _TaskSearch(
                env_id,
                kwargs,
                task_id,
                split,
                seed,
                agent,
                branching,
                max_depth,
                exploration,
                history,
                failure_value,
            )
            try:
                tree = await search.run(iterations, bar)
            finally:
                await asyncio.to_thread(search.env.close)
            solved += tree.solved
            bar.set_postfix(solved=f"{solved}/{len(task_ids)}", refresh=False)
            return tree

    try:
        return list(await asyncio.gather(*(one(task_id) for task_id in task_ids)))
    finally:
        bar.close()


class _TaskSearch:
    """The search of one task: its environment, and the four MCTS steps."""

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        task_id: str,
        split: str,
        seed: int | None,
        agent: Agent,
        branching: int,
        max_depth: int,
        exploration: float,
        history: str,
        failure_value: float,
    ):
        self.env = make(env_id, **env_kwargs)
        self.env_id, self.task_id, self.split, self.seed, self.agent = env_id, task_id, split, seed, agent
        self.branching, self.max_depth, self.exploration = branching, max_depth, exploration
        self.history, self.failure_value = history, failure_value

    async def run(self, iterations: int, bar: tqdm) -> SearchTree:
        start = await asyncio.to_thread(self._replay, [])
        opening = []
        if start.info.get("system_prompt"):
            opening.append(Message(role="system", content=start.info["system_prompt"]))
        opening.append(Message(role="user", content=start.observation))
        root = SearchNode(observation=start.observation, info=start.info)
        tree = SearchTree(
            self.env_id,
            self.task_id,
            self.seed,
            self.split,
            opening,
            root,
            self.history,
            start.info.get("tools"),
        )
        for _ in range(iterations):
            await self.iterate(tree)
            tree.iterations += 1
            bar.update()
        return tree

    async def iterate(self, tree: SearchTree) -> None:
        node = tree.root
        while node.children and not node.terminal:  # 1. selection
            node = select_child(node, self.exploration)
            if node.visits == 0:
                break
        if not node.terminal and not node.children and (node.visits > 0 or node is tree.root):
            await self.expand(tree, node)  # 2. expansion
            node = node.children[0]
        if node.terminal:
            value = terminal_value(node, self.failure_value)
        else:
            value = await self.simulate(tree, node)  # 3. simulation
        backpropagate(node, value)  # 4. back-propagation

    async def expand(self, tree: SearchTree, node: SearchNode) -> None:
        messages = tree.messages(node)
        tools = node.info.get("tools") or tree.tools
        outputs = await asyncio.gather(
            *(self.agent.act(messages, tools, info=node.info) for _ in range(self.branching))
        )
        seen: set[str] = set()
        for output in outputs:
            text, action = _action_text(output)
            key = json.dumps(
                [text or "", [(c.function.name, c.function.arguments) for c in output.tool_calls or []]]
            )
            if key in seen:  # the same action (tool call ids aside)
                continue
            seen.add(key)
            reached = await asyncio.to_thread(self._replay, [*node.actions, action])
            node.children.append(self._child(node, output, text, action, reached))

    async def simulate(self, tree: SearchTree, node: SearchNode) -> float:
        """Play the agent from `node` to the end; the env is rebuilt at `node` and stepped from there."""
        await asyncio.to_thread(self._replay, node.actions)
        history = ChatHistory(tree.opening, HistoryPolicy.parse(tree.history))
        for step in node.path:
            history.add_turn([step.reply, *step.response])
        info, tools = node.info, node.info.get("tools") or tree.tools
        returns, depth = node.returns, node.depth
        while True:
            output = await self.agent.act(history.window(), tools, info=info)
            text, action = _action_text(output)
            observation, reward, terminated, truncated, info = await asyncio.to_thread(self.env.step, action)
            depth += 1
            returns += float(reward)
            history.add_turn([_reply_message(output, text), *_response_messages(observation, info)])
            tools = info.get("tools") or tools
            if terminated or truncated or depth >= self.max_depth:
                return returns if terminated and info.get("success") else self.failure_value

    def _child(
        self, parent: SearchNode, output: AgentOutput, text: str | None, action: str, reached: Replayed
    ) -> SearchNode:
        depth = parent.depth + 1
        terminated = reached.terminated
        return SearchNode(
            depth=depth,
            action=action,
            reply=_reply_message(output, text),
            response=_response_messages(reached.observation, reached.info),
            observation=reached.observation,
            info=reached.info,
            reward=reached.rewards[-1],
            terminated=terminated,
            truncated=not terminated and (reached.truncated or depth >= self.max_depth),
            success=terminated and bool(reached.info.get("success")),
            parent=parent,
        )

    def _replay(self, actions: list[str]) -> Replayed:
        return replay(self.env, self.task_id, self.seed, actions, split=self.split)


def _action_text(output: AgentOutput) -> tuple[str | None, str]:
    """The reply text, and the action the environment gets (tool calls encoded as the rollout engine does)."""
    if not isinstance(output, AgentOutput):
        raise AgentGymError(f"agent.act must return an AgentOutput, got {type(output).__name__}")
    if output.tool_calls:
        return output.text, encode_tool_calls(output.text, output.tool_calls)
    return output.text, output.text or ""


def _reply_message(output: AgentOutput, text: str | None) -> Message:
    return Message(role="assistant", content=text, tool_calls=output.tool_calls or None)


def _response_messages(observation: str, info: dict[str, Any]) -> list[Message]:
    results = info.get("tool_results")
    if results:
        return [Message(role="tool", tool_call_id=r["tool_call_id"], content=r["content"]) for r in results]
    return [Message(role="user", content=observation)]
