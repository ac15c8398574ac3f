"""Evaluations (why each rule did or did not run, per delivery) and the tenant's opt-in to keep values."""

from __future__ import annotations

from rulequeue.store.db import Executor, Pool, row_dict, storable
from schemas.evaluations import Evaluation, EvaluationRecord

MAX_EVALUATION_PAGE = 100


async def record(pool: Executor, evaluation: Evaluation) -> None:
    """Insert or replace the evaluation of a delivery: a retry rewrites it with what it learnt."""
    await pool.execute(
        """
        INSERT INTO evaluations (client_key, delivery_id, issue_key, issue_id, event_type, values_kept, rules)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (client_key, delivery_id) DO UPDATE SET
            issue_key = EXCLUDED.issue_key, issue_id = EXCLUDED.issue_id, event_type = EXCLUDED.event_type,
            values_kept = EXCLUDED.values_kept, rules = EXCLUDED.rules
        """,
        evaluation.client_key,
        evaluation.delivery_id,
        evaluation.issue_key,
        evaluation.issue_id,
        evaluation.event_type,
        evaluation.values_kept,
        storable([r.model_dump(mode='json', exclude_none=True) for r in evaluation.rules]),
    )


async def for_delivery(pool: Pool, client_key: str, delivery_id: str) -> EvaluationRecord | None:
    row = await pool.fetchrow(
        'SELECT * FROM evaluations WHERE client_key = $1 AND delivery_id = $2', client_key, delivery_id
    )
    return None if row is None else EvaluationRecord.model_validate(row_dict(row))


async def for_issue(pool: Pool, client_key: str, issue_key: str, limit: int = 20) -> list[EvaluationRecord]:
    """The latest evaluations of an issue, newest first; ``limit`` is capped at MAX_EVALUATION_PAGE."""
    rows = await pool.fetch(
        'SELECT * FROM evaluations WHERE client_key = $1 AND issue_key = $2 ORDER BY created_at DESC LIMIT $3',
        client_key,
        issue_key,
        max(1, min(limit, MAX_EVALUATION_PAGE)),
    )
    return [EvaluationRecord.model_validate(row_dict(r)) for r in rows]


async def audit_outcomes(pool: Pool, client_key: str, delivery_id: str) -> dict[str, tuple[str, list[str]]]:
    """Rule id -> (status, messages) of the delivery's audit rows, whichever attempt wrote them."""
    rows = await pool.fetch(
        'SELECT rule_id, status, messages FROM audit_log WHERE client_key = $1 AND delivery_id = $2',
        client_key,
        delivery_id,
    )
    return {str(r['rule_id']): (r['status'], list(r['messages'])) for r in rows}


async def keeps_values(pool: Pool, client_key: str) -> bool:
    """Whether the tenant opted in to keep the actual values failing conditions read."""
    value = await pool.fetchval('SELECT explain_values FROM tenants WHERE client_key = $1', client_key)
    return bool(value)


async def set_keeps_values(pool: Pool, client_key: str, enabled: bool) -> None:
    await pool.execute(
        'UPDATE tenants SET explain_values = $2, updated_at = now() WHERE client_key = $1', client_key, enabled
    )
