"""Audit entries: one per (delivery, rule) whose trigger matched.

They hold issue key and id, the changes the rule made and messages, never the snapshot or a
field value the rule did not write.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditStatus(StrEnum):
    SUCCESS = 'SUCCESS'
    NO_ACTIONS_PERFORMED = 'NO_ACTIONS_PERFORMED'
    SOME_ERRORS = 'SOME_ERRORS'
    FAILURE = 'FAILURE'
    # Not run: licensing is enforced and Jira did not send lic=active with the event.
    UNLICENSED = 'UNLICENSED'
    # Not run: the rule was over its executions per hour (RULE_EXECUTIONS_PER_HOUR).
    THROTTLED = 'THROTTLED'
    # Not run: re-triggered through our own actions more than LOOP_MAX_DEPTH times in a chain.
    LOOP = 'LOOP'


class ActionStatus(StrEnum):
    SUCCESS = 'SUCCESS'
    FAILED = 'FAILED'
    SKIPPED = 'SKIPPED'


class ActionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    type: str
    status: ActionStatus
    # Field -> new value written, comment id created, transition made: what the rule changed.
    changes: dict[str, Any] = Field(default_factory=dict)
    message: str | None = None
    # Where the action sits when an ``if`` block holds it: "2.then.0" is the first action of the
    # then-branch of the rule's third action (``index`` is then that top-level index, 2).
    path: str | None = None


class AuditRecord(BaseModel):
    """An audit entry as the API returns it (scoped to the caller's tenant)."""

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    rule_id: str
    rule_name: str
    rule_version: int
    status: AuditStatus
    issue_key: str
    issue_id: str
    delivery_id: str
    event_type: str
    actions: list[ActionResult] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    attempts: int = 1
    started_at: datetime
    duration_ms: int


class AuditEntry(AuditRecord):
    """An audit entry as stored: the record plus the tenant it belongs to."""

    client_key: str
