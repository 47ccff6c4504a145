"""`QGuidedAgent`: best-of-N action selection with a step-level Q-value model (Zhai et al. 2024).

At every turn the inner agent proposes N candidate replies to the same conversation h (N separate `act`
calls, concurrent, so a local model samples them in one batch); identical candidates are merged; a
Q-value model scores each, Q(h, a) = β log π_θ(a | h) / π_ref(a | h), and the reply with the highest Q is
the agent's answer:

    a* = argmax_{a ∈ {a_1..a_N}} Q(h, a)

>>> agent = QGuidedAgent(HFAgent("runs/sft"), "runs/q-model", candidates=4)     # doctest: +SKIP
>>> rollout(agent, RolloutConfig("agentgym/Maze-v0", num_tasks=50))            # doctest: +SKIP

The scorer is any object with `score_actions(messages, candidates) -> list[float]` (higher is better);
a folder is loaded as `agentgym.verifiers.progress.QValueEstimator`, which needs the `hf` extra.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
from typing import Any

from agentgym.agents.base import Agent, AgentOutput
from agentgym.errors import AgentError, ConfigError
from agentgym.types import Message, Usage


class QGuidedAgent(Agent):
    """Wraps `agent`: N candidate replies per turn, the one a Q-value model scores highest is returned.

    Args:
        agent: the agent that proposes candidates; it must sample (temperature > 0) for N draws to differ.
        q_model: a folder saved by `train_q_model` / `QValueEstimator.save_pretrained`, or a scorer object
            with `score_actions(messages, candidates) -> list[float]`.
        candidates: N, the replies sampled per turn.
        reference: the Q-model's reference model, when not the one recorded with it (folders only).
        q_options: further `QValueEstimator.from_pretrained` options (`batch_size`, `device`, ...).

    The returned `AgentOutput` is the chosen candidate's own (its text, tool calls, token ids and
    log-probabilities, as sampled); its `usage` adds up the tokens of all N candidates, so that an
    evaluation counts what best-of-N cost. Shared by concurrent episodes: it keeps no per-episode state;
    scoring runs on one worker thread, off the event loop, one request at a time. `aclose` closes the
    inner agent.
    """

    name = "q-guided"

    def __init__(
        self,
        agent: Agent,
        q_model: str | os.PathLike | Any,
        *,
        candidates: int = 4,
        reference: str | os.PathLike | None = None,
        q_options: dict[str, Any] | None = None,
    ):
        if not isinstance(agent, Agent):
            raise ConfigError(
                f"QGuidedAgent needs an agentgym Agent to propose candidates, got {type(agent).__name__}"
            )
        if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
            raise ConfigError(f"candidates must be an int >= 1, got {candidates!r}")
        if isinstance(q_model, str | os.PathLike):
            from agentgym.verifiers.progress.qvalue import QValueEstimator

            q_model = QValueEstimator.from_pretrained(q_model, reference, **(q_options or {}))
        elif reference is not None or q_options:
            raise ConfigError("reference and q_options apply only when q_model is a folder to load")
        if not callable(getattr(q_model, "score_actions", None)):
            raise ConfigError(
                f"q_model must be a saved Q-value model folder or have score_actions(messages, candidates), "
                f"got {type(q_model).__name__}"
            )
        self.agent, self.scorer, self.candidates = agent, q_model, candidates
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="q-guided")
        self._closed = False

    async def act(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        info: dict[str, Any] | None = None,
    ) -> AgentOutput:
        if self._closed:
            raise AgentError("this QGuidedAgent was closed; create a new one")
        outputs = await asyncio.gather(
            *(self.agent.act(messages, tools, info=info) for _ in range(self.candidates))
        )
        distinct: dict[str, AgentOutput] = {}
        for output in outputs:
            distinct.setdefault(_action_key(output), output)
        unique = list(distinct.values())
        if len(unique) == 1:
            best = unique[0]
        else:
            replies = [
                Message(role="assistant", content=o.text, tool_calls=o.tool_calls or None) for o in unique
            ]
            loop = asyncio.get_running_loop()
            scores = await loop.run_in_executor(
                self._executor, self.scorer.score_actions, list(messages), replies
            )
            if len(scores) != len(unique):
                raise AgentError(
                    f"the Q-value model returned {len(scores)} scores for {len(unique)} candidates"
                )
            best = unique[max(range(len(unique)), key=lambda i: scores[i])]  # the first of equals
        return AgentOutput(
            text=best.text,
            tool_calls=best.tool_calls,
            token_ids=best.token_ids,
            logprobs=best.logprobs,
            usage=_total_usage(outputs),
        )

    async def aclose(self) -> None:
        """Close the inner agent and the scoring thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False)
        await self.agent.aclose()

    def __repr__(self) -> str:
        return f"QGuidedAgent({self.agent!r}, candidates={self.candidates})"


def _action_key(output: AgentOutput) -> str:
    """Candidates with the same key are the same action: the same text and the same calls (call ids aside)."""
    calls = [(call.function.name, call.function.arguments) for call in output.tool_calls or []]
    return json.dumps([output.text or "", calls])


def _total_usage(outputs: list[AgentOutput]) -> Usage | None:
    usages = [o.usage for o in outputs if o.usage is not None]
    if not usages:
        return None
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        completion_tokens=sum(u.completion_tokens for u in usages),
    )
