"""agentgym: Gymnasium-style environments, verifiers and multi-turn RL trainers for LLM agents.

>>> import agentgym
>>> env = agentgym.make("agentgym/TextWorld-v0")          # doctest: +SKIP
>>> obs, info = env.reset(seed=0)                          # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step("go east")  # doctest: +SKIP
"""

from agentgym.env import Env
from agentgym.errors import AgentGymError
from agentgym.parsers import Action, ActionParser
from agentgym.registration import card, load_entry_points, make, register, registered_ids, spec
from agentgym.replay import Replayed, replay
from agentgym.tasks import TaskSet
from agentgym.types import Message, Task, ToolCall, Trajectory, Turn
from agentgym.wrappers import HistoryWindow, RewardTransform

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionParser",
    "AgentGymError",
    "Env",
    "HistoryWindow",
    "Message",
    "Replayed",
    "RewardTransform",
    "Task",
    "TaskSet",
    "ToolCall",
    "Trajectory",
    "Turn",
    "card",
    "make",
    "register",
    "registered_ids",
    "replay",
    "spec",
]

# Registers the built-in environments and those of installed plug-ins, so that `gymnasium.make` finds
# agentgym ids once agentgym is imported. Entry points are strings: no environment package loads here.
load_entry_points()
