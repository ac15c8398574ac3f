"""Dates in smart values: parsing Jira's timestamps, Java-style patterns, date functions.

Every date is a timezone-aware ``datetime`` in UTC (rules run without a user's timezone). Jira
sends ``2026-11-26T19:42:00.000+0000`` for date-times and ``2026-12-01`` for date fields; both
parse, as do ISO-8601 forms with ``Z`` or ``+00:00``. ``format("…")`` takes the letters of
Java's ``DateTimeFormatter`` (``yyyy``, ``MM``, ``MMM``, ``dd``, ``EEE``, ``HH``, ``hh``, ``a``,
``mm``, ``ss``, ``SSS``, ``Z``, ``'quoted text'``); other letters are refused.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

_JIRA = re.compile(
    r'(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?'
)
_PATTERN_TOKEN = re.compile(r"'[^']*'|([A-Za-z])\1*|[^A-Za-z']+")


class DateFormatError(ValueError):
    """A ``format`` pattern uses a letter we do not support."""


def parse_date(value: Any) -> datetime | None:
    """A date from a datetime or a Jira/ISO timestamp string; None if it is not one."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    match = _JIRA.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or '0').ljust(6, '0')),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone != 'Z':
        sign = -1 if zone[0] == '-' else 1
        digits = zone[1:].replace(':', '')
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def iso(moment: datetime) -> str:
    """How a date reads by default: ISO-8601 in UTC to the second, ``2026-11-26T19:42:00Z``."""
    return moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def _field(letter: str, width: int, moment: datetime) -> str:
    if letter in 'yu':
        return f'{moment.year % 100:02d}' if width == 2 else str(moment.year).zfill(width)
    if letter in 'ML':
        if width >= 4:
            return calendar.month_name[moment.month]
        if width == 3:
            return calendar.month_abbr[moment.month]
        return str(moment.month).zfill(width)
    if letter == 'E':
        return calendar.day_name[moment.weekday()] if width >= 4 else calendar.day_abbr[moment.weekday()]
    if letter == 'a':
        return 'AM' if moment.hour < 12 else 'PM'
    if letter == 'S':
        return f'{moment.microsecond:06d}'[:width].ljust(width, '0')
    if letter in 'ZXx':
        return 'Z' if letter in 'Xx' else '+0000'
    if letter == 'z':
        return 'UTC'
    numbers = {'d': moment.day, 'H': moment.hour, 'h': (moment.hour % 12) or 12, 'm': moment.minute}
    numbers |= {'s': moment.second, 'D': moment.timetuple().tm_yday, 'k': moment.hour or 24}
    if letter in numbers:
        return str(numbers[letter]).zfill(width)
    raise DateFormatError(f'unsupported pattern letter {letter!r}')


def format_date(moment: datetime, pattern: str) -> str:
    """Format with a Java ``DateTimeFormatter`` pattern (see the module docstring)."""
    moment = moment.astimezone(UTC)
    out: list[str] = []
    for token in _PATTERN_TOKEN.finditer(pattern):
        text = token.group(0)
        if text.startswith("'"):
            out.append("'" if text == "''" else text[1:-1])
        elif token.group(1):
            out.append(_field(text[0], len(text), moment))
        else:
            out.append(text)
    return ''.join(out)


def add_months(moment: datetime, months: int) -> datetime:
    """Months later (or earlier), clamping the day as Java does (Jan 31 + 1 month = Feb 28/29)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Duration:
    """The result of ``a.diff(b)``: ``b - a``. Its units truncate toward zero, as Java's do."""

    delta: timedelta

    def unit(self, name: str) -> int | None:
        seconds = self.delta.total_seconds()
        sizes = {'millis': 0.001, 'seconds': 1, 'minutes': 60, 'hours': 3600, 'days': 86400, 'weeks': 604800}
        sizes |= {'businessDays': 86400}
        if name in sizes:
            return int(seconds / sizes[name])
        if name in ('months', 'years'):
            months = int(seconds / 86400 / 30.436875)
            return months if name == 'months' else int(months / 12)
        return None

    def pretty(self) -> str:
        """``3 days, 4 hours`` (the two largest non-zero units), ``0 minutes`` if none."""
        seconds = abs(int(self.delta.total_seconds()))
        parts = []
        for name, size in (('day', 86400), ('hour', 3600), ('minute', 60)):
            count, seconds = divmod(seconds, size)
            if count:
                parts.append(f'{count} {name}{"s" if count != 1 else ""}')
        sign = '-' if self.delta < timedelta(0) else ''
        return sign + (', '.join(parts[:2]) or '0 minutes')


def start_of_day(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time.min, tzinfo=UTC)


def end_of_day(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time(23, 59, 59, 999000), tzinfo=UTC)


def business_days(moment: datetime, count: int) -> datetime:
    """``count`` working days (Monday to Friday) later, or earlier if negative."""
    step = 1 if count >= 0 else -1
    remaining = abs(count)
    while remaining:
        moment += timedelta(days=step)
        if moment.weekday() < 5:
            remaining -= 1
    return moment
