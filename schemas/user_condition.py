"""The ``user`` condition: who caused the event (the initiator), by account id or Jira group.

Group membership is asked from Jira (worker/user_checks.py) only when the condition is reached.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ACCOUNT_OPS = frozenset({'is', 'is_not'})
GROUP_OPS = frozenset({'in_group', 'not_in_group'})


class UserCondition(BaseModel):
    """``{"type": "user", "who": "initiator", "op": "is", "account_ids": [...]}`` or
    ``{"type": "user", "who": "initiator", "op": "in_group", "group": "jira-admins"}``."""

    model_config = ConfigDict(extra='forbid', frozen=True)

    type: Literal['user']
    who: Literal['initiator'] = 'initiator'
    op: Literal['is', 'is_not', 'in_group', 'not_in_group']
    account_ids: list[str] | None = Field(default=None, min_length=1, max_length=100)
    group: str | None = Field(default=None, min_length=1, max_length=255)

    def model_post_init(self, __context: Any) -> None:
        if self.op in ACCOUNT_OPS and (self.account_ids is None or self.group is not None):
            raise ValueError(f'op {self.op!r} needs "account_ids" (and no "group")')
        if self.op in GROUP_OPS and (self.group is None or self.account_ids is not None):
            raise ValueError(f'op {self.op!r} needs "group" (and no "account_ids")')
