"""register / make / spec: agentgym ids live in Gymnasium's own registry.

`agentgym.make("agentgym/TextWorld-v0")` and `gymnasium.make("agentgym/TextWorld-v0")` build the same
environment. agentgym keeps a little more than Gymnasium's `EnvSpec` beside it (a description, the action
format, an example action) for `agentgym list` and `agentgym info`.

Entry points are strings, so registering imports nothing heavy; an environment's package is imported when
the environment is made. Other packages add environments through the entry-point group
`agentgym.environments`: each entry point names a function that calls :func:`register` (or a module that
does so when imported).
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from typing import Any

import gymnasium

from agentgym.errors import UnknownEnvironmentError

ENTRY_POINT_GROUP = "agentgym.environments"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnvCard:
    """What agentgym knows of a registered environment beyond Gymnasium's EnvSpec."""

    id: str
    entry_point: str
    description: str = ""
    action_format: str = ""
    example_action: str = ""
    max_episode_steps: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    extra: str | None = None  # the pip extra the environment needs, for error messages

    @property
    def gym_spec(self) -> gymnasium.envs.registration.EnvSpec:
        return gymnasium.spec(self.id)


_CARDS: dict[str, EnvCard] = {}
_entry_points_loaded = False


def register(
    id: str,
    entry_point: str,
    *,
    description: str = "",
    action_format: str = "",
    example_action: str = "",
    max_episode_steps: int | None = None,
    kwargs: dict[str, Any] | None = None,
    extra: str | None = None,
) -> EnvCard:
    """Register an environment id (``namespace/Name-vN``) in Gymnasium's registry and in agentgym's list."""
    return register_card(
        EnvCard(
            id=id,
            entry_point=entry_point,
            description=description,
            action_format=action_format,
            example_action=example_action,
            max_episode_steps=max_episode_steps,
            kwargs=dict(kwargs or {}),
            extra=extra,
        )
    )


def register_card(env_card: EnvCard) -> EnvCard:
    """Register a card as it is: how a worker process learns an id its parent registered at run time."""
    if env_card.id in gymnasium.registry:
        del gymnasium.registry[env_card.id]  # re-registration replaces, as in a notebook re-run
    gymnasium.register(
        id=env_card.id,
        entry_point=env_card.entry_point,
        max_episode_steps=env_card.max_episode_steps,
        kwargs=dict(env_card.kwargs),
    )
    _CARDS[env_card.id] = env_card
    return env_card


def load_entry_points() -> None:
    """Load environments that installed packages (agentgym itself included) declare as entry points."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
        except Exception as exc:  # a broken plug-in must not break agentgym
            logger.warning("could not load agentgym environment entry point %r: %s", ep.value, exc)
            continue
        if callable(target):
            target()


def registered_ids() -> list[str]:
    """Every environment id agentgym knows, sorted."""
    load_entry_points()
    return sorted(_CARDS)


def card(env_id: str) -> EnvCard:
    """The :class:`EnvCard` of `env_id`; an unknown id raises an error listing close matches."""
    load_entry_points()
    try:
        return _CARDS[env_id]
    except KeyError:
        pass
    known = sorted(_CARDS)
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.5)
    if not close:  # "TextWorld" or "textworld-v0" should still find agentgym/TextWorld-v0
        lowered = env_id.lower().split("/")[-1].split("-v")[0]
        close = [k for k in known if lowered and lowered in k.lower()]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownEnvironmentError(
        f"No environment registered as {env_id!r}.{hint} Registered: {', '.join(known) or 'none'}. "
        f"(`agentgym list` shows them all.)"
    )


def spec(env_id: str) -> gymnasium.envs.registration.EnvSpec:
    """Gymnasium's EnvSpec of an agentgym id."""
    return card(env_id).gym_spec


def make(env_id: str, **kwargs: Any) -> gymnasium.Env:
    """Build a registered environment, with the wrappers its spec names (a time limit, for instance).

    Keyword arguments go to the environment's constructor, as in `gymnasium.make`; `max_episode_steps`
    overrides the spec's time limit.
    """
    card(env_id)  # a clear error for unknown ids before Gymnasium's
    return gymnasium.make(env_id, **kwargs)
