"""Agents: what answers an environment. `make_agent(name, **kwargs)` builds one by name.

`HFAgent` needs torch and transformers (the `hf` extra); it is imported only when first used, so
`import agentgym.agents` stays light. So is `QGuidedAgent` (best-of-N with a step-level Q-value model), which
wraps another agent.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from agentgym.agents.base import Agent, AgentOutput
from agentgym.agents.expert import ExpertAgent
from agentgym.agents.openai_agent import OpenAIAgent
from agentgym.agents.random_agent import RandomAgent
from agentgym.errors import ConfigError

if TYPE_CHECKING:
    from agentgym.agents.hf_agent import HFAgent
    from agentgym.agents.q_guided import QGuidedAgent

#: Agent name -> "module:class", imported when the agent is made.
AGENTS: dict[str, str] = {
    "openai": "agentgym.agents.openai_agent:OpenAIAgent",
    "hf": "agentgym.agents.hf_agent:HFAgent",
    "expert": "agentgym.agents.expert:ExpertAgent",
    "random": "agentgym.agents.random_agent:RandomAgent",
    "q-guided": "agentgym.agents.q_guided:QGuidedAgent",
}

__all__ = [
    "AGENTS",
    "Agent",
    "AgentOutput",
    "ExpertAgent",
    "HFAgent",
    "OpenAIAgent",
    "QGuidedAgent",
    "RandomAgent",
    "make_agent",
]


def make_agent(name: str, **kwargs: Any) -> Agent:
    """Build an agent by name ("openai", "hf", "expert", "random", "q-guided"); keyword arguments go to its
    constructor.

    >>> make_agent("random", seed=1)
    RandomAgent(seed=1)
    """
    if name not in AGENTS:
        raise ConfigError(f"unknown agent {name!r}; expected one of: {', '.join(sorted(AGENTS))}")
    module, _, cls_name = AGENTS[name].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:  # an unknown or missing keyword: say which agent it was for
        raise ConfigError(
            f"cannot build agent {name!r} ({cls_name}) with arguments {sorted(kwargs)}: {exc}"
        ) from None
    return cls(**kwargs)


def __getattr__(name: str) -> Any:
    if name == "HFAgent":  # lazy: importing it imports torch and transformers
        from agentgym.agents.hf_agent import HFAgent

        return HFAgent
    if name == "QGuidedAgent":
        from agentgym.agents.q_guided import QGuidedAgent

        return QGuidedAgent
    raise AttributeError(f"module 'agentgym.agents' has no attribute {name!r}")
