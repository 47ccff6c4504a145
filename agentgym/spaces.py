"""The text space every agentgym environment uses for observations and actions."""

from __future__ import annotations

import string
from typing import Any

from gymnasium.spaces import Text

MAX_TEXT_LENGTH = 1_000_000


class AnyText(Text):
    """A `gymnasium.spaces.Text` whose charset admits any text.

    Model output and engine observations contain any Unicode character, so membership checks only the
    type and the length. Sampling (used by env checkers and random smoke tests) draws printable ASCII.

    >>> space = AnyText()
    >>> space.contains("ouvrir la boîte → ✓")
    True
    """

    def __init__(self, max_length: int = MAX_TEXT_LENGTH, min_length: int = 0, seed: Any = None):
        super().__init__(max_length=max_length, min_length=min_length, charset=string.printable, seed=seed)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is None and probability is None:
            # Short samples: a sampled action only needs to exercise the env, not fill a megabyte.
            length = int(self.np_random.integers(self.min_length, min(self.max_length, 64) + 1))
            return super().sample(mask=(length, None))
        return super().sample(mask=mask, probability=probability)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AnyText) and (other.min_length, other.max_length) == (
            self.min_length,
            self.max_length,
        )
