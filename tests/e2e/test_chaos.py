"""The short fault-injection run: every guarantee of issue #4 at once, under every fault once.

benchmarks/chaos.py starts private Redis (AOF) and Postgres, worker processes and the Jira
simulator, sends a few hundred signed webhooks (with Jira's re-deliveries and duplicates), and
meanwhile SIGKILLs and SIGTERMs a worker, restarts Redis, stops Postgres for 20 s and makes
Jira answer 429, 5xx and slowly. The long run is `python -m benchmarks.chaos`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos import SHORT, run
from benchmarks.chaos_faults import FAULT_KINDS


@pytest.mark.timeout(420)
async def test_short_chaos_run_loses_nothing_repeats_nothing_and_keeps_order(tmp_path: Path) -> None:
    outcome = await run(SHORT, tmp_path)
    verdict = outcome.verdict

    assert outcome.faults == dict.fromkeys(FAULT_KINDS, 1), outcome.fault_log
    assert verdict.deliveries_sent == SHORT.changes
    assert verdict.deliveries_accepted == SHORT.changes, 'Jira gave up on a delivery we never accepted'
    assert verdict.duplicate_sends > 0
    # Comments: one per delivery; edit and transition: one each per created issue.
    assert verdict.expected_actions == SHORT.changes + 2 * SHORT.issues
    assert (verdict.lost, verdict.duplicated, verdict.out_of_order) == (0, 0, 0), verdict.problems[:10]
    assert verdict.audit_rows == SHORT.changes
    assert verdict.audit_statuses == {'SUCCESS': SHORT.changes}
    assert verdict.dead_letters == []
    assert verdict.still_accepted == 0
    assert verdict.snapshots_left == 0
    assert outcome.worker_exits == {}, 'a worker process died on its own (Redis restart, Postgres outage?)'
    assert verdict.ok
