"""Cron schedules of ``scheduled`` rules: validation, and whether a minute is one of a rule's ticks.

Parsing is cronsim's (by healthchecks.io, which runs millions of cron checks a day): the
classic five fields (minute hour day-of-month month day-of-week), ranges, steps, lists, names
(``MON-FRI``, ``JAN``), ``L``, ``W`` and ``#``; day-of-month and day-of-week combine with OR as
in Vixie cron. A schedule is read in its rule's time zone (IANA name, default UTC), so
``0 9 * * 1-5`` in ``Europe/Berlin`` is 09:00 Berlin time across daylight-saving changes.

A tick is one whole minute, the resolution of cron. The worker's cron job runs once a minute
and asks :func:`is_due` for that minute: a minute the workers missed (all down) is not caught
up, as with cron itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

CRON_FIELDS = 5
MAX_CRON_CHARS = 200
DEFAULT_TIMEZONE = 'UTC'


def check_cron(expression: str) -> str:
    """The expression unchanged if it is a valid five-field cron; a ValueError saying why otherwise."""
    if len(expression) > MAX_CRON_CHARS:
        raise ValueError(f'cron expression longer than {MAX_CRON_CHARS} characters')
    fields = expression.split()
    if len(fields) != CRON_FIELDS:
        raise ValueError(
            f'cron expression needs {CRON_FIELDS} fields (minute hour day-of-month month day-of-week), '
            f'got {len(fields)}'
        )
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ValueError(f'invalid cron expression: {exc}') from None
    return expression


def check_timezone(name: str) -> str:
    """The name unchanged if it is an IANA time zone (``Europe/Berlin``, ``UTC``); ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone {name!r} (an IANA name such as Europe/Berlin)') from None
    return name


def tick_of(now: datetime) -> datetime:
    """The minute ``now`` falls in, in UTC (seconds and microseconds cut)."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def next_fire(expression: str, timezone: str, after: datetime) -> datetime | None:
    """The first tick of the schedule strictly after ``after``, in UTC; None if there is none."""
    start = after.astimezone(ZoneInfo(timezone))
    fired: datetime | None = next(iter(CronSim(expression, start)), None)
    return None if fired is None else fired.astimezone(UTC)


def is_due(expression: str, timezone: str, tick: datetime) -> bool:
    """Whether the minute ``tick`` (see :func:`tick_of`) is one of the schedule's."""
    minute = tick_of(tick)
    return next_fire(expression, timezone, minute - timedelta(seconds=1)) == minute


def tick_id(tick: datetime) -> str:
    """A tick as text for keys and delivery ids: ``202611270900`` (UTC)."""
    return tick_of(tick).strftime('%Y%m%d%H%M')
