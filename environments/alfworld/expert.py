"""ALFWorld's hand-coded expert, driven step by step from our environment.

The policies are alfworld's own (`alfworld.agents.expert.handcoded_expert_tw`: find, take, heat/cool/clean,
find, put, per task type). This module replaces only the thin driver that alfworld wraps around them
(`AlfredExpert` / `HandCodedAgent`), for three reasons:

- alfworld 0.4.2's state tracking recognises a put by `"put" in last_action`, while the grammar's command is
  "move X to Y": the expert never empties its hands in its own memory, so in `pick_two_obj_and_place` it
  keeps suggesting to move the first object again, which is not admissible, and wanders on "look" and
  random commands (about four times the steps, often past the step limit). The policy is told "put ..."
  for every "move ..." command; nothing else reads that word.
- The policies draw from the global `random` (which instance of an object to take, a random admissible
  command when stuck): each expert gets its own generator, swapped in while it acts under the engine lock,
  so the same task, seed and actions always give the same expert actions.
- alfworld's driver raises out of the environment when its heuristics run out or fail; an expert is advice,
  so here it falls back to "look" (as alfworld does for a suggestion that is not admissible).

Unlike alfworld's driver, the first suggestion after reset is a real action rather than "look": the policy
reads the room from the opening text itself.
"""

from __future__ import annotations

import random
from typing import Any

from alfworld.agents.expert import handcoded_expert
from alfworld.agents.expert.handcoded_expert_tw import HandCodedTWAgent
from alfworld.gen import constants

from .backend import ENGINE_LOCK

FALLBACK = "look"
MAX_POLICY_STEPS = 1000  # alfworld's policies raise past this many steps; episodes end long before


def tracked_command(command: str) -> str:
    """The command as the policy's state tracking expects it: "move X to Y" reads as a put."""
    return "put" + command[len("move") :] if command.startswith("move ") else command


class HandCodedExpert:
    """The next action of alfworld's hand-coded policy for one episode.

    Args:
        traj_data: the game's `traj_data.json` (its `task_type` and `pddl_params` are read).
        seed: seeds the policy's random choices.
    """

    def __init__(self, traj_data: dict[str, Any], seed: int):
        params = {**traj_data["pddl_params"], "task_type": traj_data["task_type"]}
        # alfworld lower-cases the ALFRED object names (and leaves flags such as object_sliced alone).
        params = {k: v.lower() if v in constants.OBJECTS else v for k, v in params.items()}
        policy_class = HandCodedTWAgent().get_task_policy(params)
        self._policy = policy_class(params, max_steps=MAX_POLICY_STEPS)
        self._rng = random.Random(seed)

    def first_action(self, state: Any) -> str:
        """The suggestion at reset, from the engine's opening state (its text lists the receptacles)."""
        return self.next_action(state, FALLBACK)

    def next_action(self, state: Any, last_command: str) -> str:
        """The suggestion after `last_command` led to `state` (the engine's GameState)."""
        admissible = state["admissible_commands"]
        with ENGINE_LOCK:
            saved, handcoded_expert.random = handcoded_expert.random, self._rng
            try:
                action = self._policy.act(state, tracked_command(last_command))
                # HandCodedAgent.act's rule: never repeat the last command; after a look, only what is admissible.
                if action == last_command or (last_command == FALLBACK and action not in admissible):
                    action = self._rng.choice(admissible)
            except Exception:  # alfworld's heuristics gave up or tripped over an unusual state
                action = FALLBACK
            finally:
                handcoded_expert.random = saved
        return action if action in admissible else FALLBACK
