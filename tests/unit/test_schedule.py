"""Cron schedules of scheduled rules (rulequeue/schedule.py): validation and due minutes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rulequeue.schedule import check_cron, check_timezone, is_due, next_fire, tick_id


def test_a_weekday_morning_schedule_is_due_only_at_its_minute() -> None:
    friday = datetime(2026, 11, 27, 9, 0, 42, tzinfo=UTC)
    assert is_due('0 9 * * 1-5', 'UTC', friday)
    assert not is_due('0 9 * * 1-5', 'UTC', friday.replace(minute=1))
    assert not is_due('0 9 * * 1-5', 'UTC', datetime(2026, 11, 28, 9, 0, tzinfo=UTC))  # Saturday
    assert tick_id(friday) == '202611270900'


def test_a_schedule_is_read_in_its_time_zone_across_daylight_saving() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    assert is_due('0 9 * * *', 'Europe/Berlin', datetime(2026, 1, 15, 8, 0, tzinfo=UTC))
    assert is_due('0 9 * * *', 'Europe/Berlin', datetime(2026, 7, 15, 7, 0, tzinfo=UTC))
    assert not is_due('0 9 * * *', 'Europe/Berlin', datetime(2026, 7, 15, 8, 0, tzinfo=UTC))
    assert next_fire('0 9 * * *', 'Europe/Berlin', datetime(2026, 3, 28, 12, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 7, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ('expression', 'reason'),
    [
        ('61 * * * *', 'invalid cron expression: Bad minute'),
        ('0 9 * *', 'needs 5 fields'),
        ('0 0 9 * * 1-5', 'needs 5 fields'),
        ('0 0 30 2 *', 'invalid cron expression'),
        ('x' * 201, 'longer than 200'),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_cron(expression)


def test_time_zones_are_iana_names() -> None:
    assert check_timezone('America/New_York') == 'America/New_York'
    for name in ('Mars/Olympus', '../../etc/passwd', ''):
        with pytest.raises(ValueError, match='unknown time zone'):
            check_timezone(name)
