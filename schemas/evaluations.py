"""Evaluations: for one delivery, each rule of the tenant and why it did or did not run.

They are built from the rules' configuration and the event's type, never from issue data; the
one exception is ``ConditionFailure.actual``, kept only when the tenant opted in
(``PUT /api/settings/explain-values``) and cut to ``MAX_ACTUAL_CHARS`` characters.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.audit import AuditStatus

MAX_ACTUAL_CHARS = 80


class Reason(StrEnum):
    DISABLED = 'disabled'
    OUT_OF_SCOPE = 'out_of_scope'  # the issue's project is not one of the rule's
    TRIGGER_MISMATCH = 'trigger_mismatch'
    RULE_TRIGGERED_EVENT = 'rule_triggered_event'  # caused by our app; allow_rule_trigger is false
    CONDITION_FAILED = 'condition_failed'
    RAN = 'ran'
    LIMITED = 'limited'  # held by a service limit: the audit row says THROTTLED or LOOP
    NOT_REQUESTED = 'not_requested'  # the execution was for other rules (a manual or scheduled run)


class ConditionFailure(BaseModel):
    """The condition that stopped a rule: what the rule expected, and (opt-in) what it found."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description='1-based position among the rule conditions')
    type: str
    description: str
    field: str | None = None
    op: str | None = None
    expected: Any = None
    actual: str | None = Field(default=None, description='only when the tenant keeps values, at most 80 characters')


class RuleEvaluation(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule_id: str
    rule_name: str
    rule_version: int
    reason: Reason
    detail: str
    # trigger_mismatch: what the trigger wanted, and what the event was (type, changed field names).
    trigger_wanted: str | None = None
    event: str | None = None
    condition: ConditionFailure | None = None
    # ran and condition_failed: the status of the rule's audit entry.
    status: AuditStatus | None = None


class EvaluationRecord(BaseModel):
    """An evaluation as the API returns it (scoped to the caller's tenant)."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str
    issue_key: str
    issue_id: str
    event_type: str
    values_kept: bool = False
    created_at: datetime | None = None
    rules: list[RuleEvaluation] = Field(default_factory=list)


class Evaluation(EvaluationRecord):
    """An evaluation as stored: the record plus the tenant it belongs to."""

    client_key: str


class ExplainValues(BaseModel):
    """The tenant's choice: keep the actual values of the fields failing conditions read."""

    model_config = ConfigDict(frozen=True, extra='forbid')

    enabled: bool
