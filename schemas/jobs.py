"""The ARQ job payload. It carries references only, never issue data: arq copies job
arguments into its own keys and logs (ARQ.md section 6)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BranchRef(BaseModel):
    """The branch a job runs one item of (worker/branches.py): the branch's place in its rule."""

    model_config = ConfigDict(extra='forbid', frozen=True)

    parent_execution: str
    rule_id: str
    rule_version: int
    path: str  # the branch's place in the action list: "2", or "1.then.0" inside an ``if``
    item: int  # 0-based, in the branch's order
    items: int  # how many items the branch runs


class ResumeRef(BaseModel):
    """The delay a job continues a rule after (worker/delays.py)."""

    model_config = ConfigDict(extra='forbid', frozen=True)

    rule_id: str
    rule_version: int
    path: str  # the delay's place in the action list
    seconds: int


class ExecutionJob(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True)

    execution_id: str
    client_key: str
    delivery_id: str
    snapshot_key: str
    received_at: float
    # Per-issue ordering (absent on jobs queued before ordering existed: they run unordered).
    order_key: str | None = None
    order_member: str | None = None
    # False when licensing is enforced and Jira did not send lic=active: the rules are not run.
    # Jobs queued before licensing existed lack the field and run as licensed.
    licensed: bool = True
    # The snapshot's issue is partial (a Forge event) or only {id, key} (a manual run, a
    # scheduled search hit, a branch item): the worker reads the issue from Jira before matching.
    fetch_issue: bool = False
    # Only these rules are candidates (a manual or scheduled run names its rule); None: every rule.
    rule_ids: tuple[str, ...] | None = None
    # A branch item or a rule continued after a delay (written only when set: schemas.flow).
    branch: BranchRef | None = None
    resume: ResumeRef | None = None
