"""Errors raised by agentgym.

Every error derives from :class:`AgentGymError` and its message names the bad input and what was expected,
so a user can fix the call without reading our source.
"""

from __future__ import annotations


class AgentGymError(Exception):
    """Base class of every error agentgym raises on purpose."""


class UnknownEnvironmentError(AgentGymError, KeyError):
    """An environment id that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownTaskError(AgentGymError, KeyError):
    """A task id or split that the environment does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingExtraError(AgentGymError, ImportError):
    """An optional dependency is missing; the message says which extra installs it."""

    def __init__(self, package: str, extra: str, what: str = ""):
        self.package, self.extra = package, extra
        purpose = f" for {what}" if what else ""
        super().__init__(
            f"The package {package!r} is needed{purpose} but is not installed. "
            f'Install it with: pip install "agentgym[{extra}]"'
        )


class ActionParseError(AgentGymError, ValueError):
    """Model text that the environment's action parser cannot read.

    Environments never let this escape `step`: it becomes an observation telling the agent the expected
    format, and `info["parse_error"]` carries the message.
    """


class EnvironmentCrashedError(AgentGymError, RuntimeError):
    """An environment (or the process hosting it) failed; the episode is an infrastructure failure."""


class AgentError(AgentGymError, RuntimeError):
    """An agent backend failed in a way that is not the model's fault (endpoint down, bad credentials)."""


class ConfigError(AgentGymError, ValueError):
    """A configuration value is invalid; the message names the field and the allowed values."""


def require(module: str, extra: str, what: str = ""):
    """Import an optional dependency, or raise a :class:`MissingExtraError` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.split(".")[0], extra, what) from exc
