"""What an execution's job asks beyond its event, kept with its delivery and its dead letter.

The reconciler (worker/reconcile.py) and a replay (producer/replay.py) rebuild a lost or failed
execution from the stored envelope and a fresh read of the issue. Without these options a lost
manual or scheduled run would run every manual or scheduled rule on the issue, and a lost branch
item or delay continuation the whole rule. Ids and places only (and a manual run's initiator's
account id), never issue data: the row
outlives the snapshot (a branch item's ``{{triggerIssue}}`` is kept as its id and key and read
again from Jira).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.jobs import BranchRef, ResumeRef

# A branch item's event field holding the issue its rule started on (worker/flow.py, worker/branches.py).
TRIGGER_ISSUE = 'triggerIssue'


class IssueRef(BaseModel):
    model_config = ConfigDict(extra='ignore', frozen=True)

    id: str
    key: str


class JobOptions(BaseModel):
    """The keyword options of rulequeue.intake.admit that shape the job, as stored."""

    # 'ignore': a row written by a newer version still reads (its new option is dropped).
    model_config = ConfigDict(extra='ignore', frozen=True)

    fetch_issue: bool = False
    rule_ids: tuple[str, ...] | None = None
    branch: BranchRef | None = None
    resume: ResumeRef | None = None
    # When a deferred job (a delay's continuation) was due, in epoch seconds.
    due_at: float | None = None
    # A branch item's place in its parent's issue line: (key, member, score).
    line: tuple[str, str, float] | None = None
    # The issue a branch item's rule started on ({{triggerIssue}}).
    trigger_issue: IssueRef | None = None
    # The account id of whoever ran a run that names its rules (a manual run's {{initiator}},
    # kept by its branch items and continuations): the envelope keeps no user.
    initiator: str | None = None

    @classmethod
    def stored(cls, raw: Any) -> JobOptions:
        """From a jsonb column; NULL (a plain event, or a row older than the column) is the default."""
        return cls() if raw is None else cls.model_validate(raw)

    def storable(self) -> dict[str, Any] | None:
        """For the jsonb column: None for the default, so a plain event's row stays as it was."""
        return self.model_dump(mode='json', exclude_defaults=True) or None


def trigger_issue_of(extra: Mapping[str, Any] | None) -> IssueRef | None:
    """The id and key of a branch item's ``{{triggerIssue}}`` (its event's extra field), if any."""
    found = (extra or {}).get(TRIGGER_ISSUE)
    if not isinstance(found, Mapping) or not found.get('id') or not found.get('key'):
        return None
    return IssueRef(id=str(found['id']), key=str(found['key']))
