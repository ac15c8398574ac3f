"""The base of every rule-document model: unknown keys refused, instances immutable.

Refusing unknown keys means a typo (``"condtions"``) is a 422, never a silently ignored check.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True)
