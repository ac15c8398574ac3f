"""What the app stores, where and for how long: the answer of ``GET /api/privacy``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class StoredData(BaseModel):
    """One kind of data: ``location`` is a Postgres table or a Redis key pattern."""

    model_config = ConfigDict(frozen=True)

    data: str
    store: Literal['postgres', 'redis', 'stdout']
    location: str
    retention: str
    # The longest it is kept, when that is a fixed figure (None: until an event, e.g. a delete).
    max_days: float | None = None


class RetentionSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    audit_retention_days: int
    uninstall_grace_days: int


class PrivacyReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    retention: RetentionSettings
    stored: list[StoredData]
