"""Dates in JQL: field values, absolute and relative date values, and the date functions.

Everything is an aware ``datetime`` in UTC. Absolute values: ``2026-11-20``, ``2026/11/20``,
optionally with `` HH:mm``; relative ones count from now: ``-7d``, ``4w``, ``"-1w 2d"`` (units
y, M, w, d, h, m). Functions: ``now()``, ``currentLogin()``, ``startOfDay/Week/Month/Year()`` and
``endOf…()``, each with an optional increment such as ``"-1"`` or ``"+2w"`` (in the function's
own unit by default). Weeks start on Monday. Other functions are not known here (None).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

_ABSOLUTE = re.compile(r'(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?')
_JIRA = re.compile(r'(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?')
_RELATIVE = re.compile(r'([+-]?)((?:\d+[yMwdhm]\s*)+)')
_PART = re.compile(r'(\d+)([yMwdhm])')
_INCREMENT = re.compile(r'([+-]?\d+)([yMwdhm]?)')
MAX_AMOUNT = 100_000
_FUNCTION_UNITS = {'day': 'd', 'week': 'w', 'month': 'M', 'year': 'y'}


def of_field(value: Any) -> datetime | None:
    """A field value as Jira sends it (``2026-11-20T09:15:30.000+0000``, ``2026-12-01``)."""
    match = _JIRA.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
            int((fraction or '0').ljust(6, '0')), tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None
    if zone and zone != 'Z':
        digits = zone[1:].replace(':', '')
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        moment -= offset if zone[0] == '+' else -offset
    return moment


def _shift(moment: datetime, amount: int, unit: str) -> datetime:
    if abs(amount) > MAX_AMOUNT:
        raise OverflowError('date offset out of range')
    if unit in 'yM':
        months = amount * (12 if unit == 'y' else 1)
        index = moment.year * 12 + moment.month - 1 + months
        year, month = divmod(index, 12)
        day = min(moment.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31][month])  # fmt: skip
        return moment.replace(year=year, month=month + 1, day=day)
    sizes = {'w': 'weeks', 'd': 'days', 'h': 'hours', 'm': 'minutes'}
    return moment + timedelta(**{sizes[unit]: amount})


def of_operand(value: Any, now: datetime) -> datetime | None:
    """A query value as a date: a datetime as is, an absolute or a relative date; else None."""
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    match = _ABSOLUTE.fullmatch(text)
    if match:
        year, month, day, hour, minute = match.groups()
        try:
            return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), tzinfo=UTC)
        except ValueError:
            return None
    relative = _RELATIVE.fullmatch(text)
    if relative is None:
        return of_field(text)
    sign = -1 if relative.group(1) == '-' else 1
    moment = now
    try:
        for amount, unit in _PART.findall(relative.group(2)):
            moment = _shift(moment, sign * int(amount), unit)
    except OverflowError:
        return None
    return moment


def _start(moment: datetime, unit: str) -> datetime:
    day = datetime.combine(moment.date(), time.min, tzinfo=UTC)
    if unit == 'w':
        return day - timedelta(days=day.weekday())
    if unit == 'M':
        return day.replace(day=1)
    if unit == 'y':
        return day.replace(month=1, day=1)
    return day


def function(name: str, args: tuple[str, ...], now: datetime) -> datetime | None:
    """The value of a date function (lower-case ``name``); None for one not known here."""
    if name in ('now', 'currentlogin'):
        return now
    edge, _, period = name.partition('of')
    unit = _FUNCTION_UNITS.get(period)
    if edge not in ('start', 'end') or unit is None or len(args) > 1:
        return None
    moment = now
    if args:
        match = _INCREMENT.fullmatch(args[0].strip())
        if match is None:
            return None
        try:
            moment = _shift(now, int(match.group(1)), match.group(2) or unit)
        except OverflowError:
            return None
    start = _start(moment, unit)
    if edge == 'start':
        return start
    return _shift(start, 1, unit) - timedelta(milliseconds=1)
