"""The ARQ job payload. It carries references only, never issue data: arq copies job
arguments into its own keys and logs (ARQ.md section 6)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
