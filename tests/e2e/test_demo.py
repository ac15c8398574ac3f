"""`rulequeue demo` end to end: every example rule produces the audit rows and Jira calls expected."""

from __future__ import annotations

import io

import pytest
import redis.asyncio as aioredis

from rulequeue.demo import load_example_rules, run_demo
from rulequeue.demo_scenarios import SCENARIOS
from schemas.rules import Rule
from tests.conftest import DATABASE_URL, redis_url


def test_example_rules_are_valid_and_cover_the_scenarios() -> None:
    rules = [Rule.model_validate(r) for r in load_example_rules()]
    names = {r.name for r in rules}
    assert len(rules) >= 12
    assert {name for s in SCENARIOS for name, _ in s.expect} <= names


@pytest.mark.timeout(120)
async def test_demo_runs_clean(redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DATABASE_URL', DATABASE_URL)
    monkeypatch.setenv('REDIS_URL', redis_url())
    out = io.StringIO()
    code = await run_demo(events=60, seed=3, out=out)
    text = out.getvalue()
    assert code == 0, text
    assert 'Result: OK' in text
    assert 'snapshot keys left in Redis: 0' in text
    assert 'MISMATCH' not in text


@pytest.mark.timeout(180)
async def test_demo_runs_clean_over_forge(redis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('DATABASE_URL', DATABASE_URL)
    monkeypatch.setenv('REDIS_URL', redis_url())
    out = io.StringIO()
    code = await run_demo(events=60, seed=3, out=out, transport='forge')
    text = out.getvalue()
    assert code == 0, text
    assert 'over Forge Remote' in text
    assert 'MISMATCH' not in text
    # Every Jira call carried the app system token; none was a Connect JWT.
    assert 'every one verified (Forge Bearer system token: ' in text
    assert 'Connect JWT' not in text
    assert 'snapshot keys left in Redis: 0' in text
    assert 'tenants with an encrypted shared secret: 0' in text
    assert 'Forge installations with an encrypted app system token: 1' in text
