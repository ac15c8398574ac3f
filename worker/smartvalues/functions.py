"""The functions a smart value may chain: text, lists, numbers and dates, and nothing else.

A function is looked up by name in these tables, never as an attribute of a Python object.
Applied to None, a function gives None (``isEmpty`` gives true), so a missing field renders
empty instead of failing. A text or number function applied to a list is applied to each item.
Bad arguments raise FunctionError, which the evaluator turns into a TemplateError at the
function's position.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

import regex

from worker.smartvalues import dates
from worker.smartvalues.dates import Duration
from worker.smartvalues.values import as_number, is_empty, to_text

Fn = Callable[[Any, list[Any]], Any]
# Bounds on what one call may build: a template cannot allocate gigabytes through repeat().
MAX_COUNT_ARGUMENT = 100_000


class FunctionError(ValueError):
    """A function was called with arguments it cannot take."""


def _int(arg: Any) -> int:
    number = as_number(arg)
    if number is None or number != int(number):
        # Never quote the value: it may be issue data, and error messages go to the audit log.
        raise FunctionError('expected a whole number')
    if abs(int(number)) > MAX_COUNT_ARGUMENT:
        raise FunctionError(f'number out of range (at most {MAX_COUNT_ARGUMENT})')
    return int(number)


def _str(arg: Any) -> str:
    return to_text(arg)


def _decimal(arg: Any) -> Decimal:
    number = as_number(arg)
    if number is None:
        raise FunctionError('expected a number')
    return Decimal(str(number))


def _abbreviate(text: str, args: list[Any]) -> str:
    width = _int(args[0])
    if width < 4:
        raise FunctionError('abbreviate needs a width of at least 4')
    return text if len(text) <= width else text[: width - 3] + '...'


def _java_replacement(replacement: str) -> Callable[[Any], str]:
    """Java's replacement syntax: ``$1`` and ``${name}`` insert a group, a backslash escapes."""
    parts: list[tuple[bool, str | int]] = []  # (is a group reference, text or group)
    for token in regex.finditer(r'\\(.)|\$\{(\w+)\}|\$(\d)|([^\\$]+|[\\$])', replacement):
        escaped, name, number, text = token.groups()
        if name or number:
            parts.append((True, int(number) if number else name))
        else:
            parts.append((False, escaped if escaped is not None else text))

    def expand(match: Any) -> str:
        return ''.join(str(match.group(p) or '') if is_group else str(p) for is_group, p in parts)

    return expand


def _replace_all(text: str, args: list[Any], timeout: float) -> str:
    try:
        pattern = regex.compile(_str(args[0]))
        return str(pattern.sub(_java_replacement(_str(args[1])), text, timeout=timeout))
    except (regex.error, IndexError):
        raise FunctionError('invalid regular expression or group reference') from None
    except TimeoutError:
        raise FunctionError('regular expression timed out') from None


def _match(text: str, args: list[Any], timeout: float) -> Any:
    try:
        found = regex.compile(_str(args[0])).search(text, timeout=timeout)
    except regex.error:
        raise FunctionError('invalid regular expression') from None
    except TimeoutError:
        raise FunctionError('regular expression timed out') from None
    if found is None:
        return None
    return found.group(1) if found.re.groups else found.group(0)


def _substring(text: str, args: list[Any]) -> str:
    start = max(0, _int(args[0]))
    end = _int(args[1]) if len(args) > 1 else len(text)
    return text[start:end]


TEXT: dict[str, tuple[int, int, Fn]] = {
    'toUpperCase': (0, 0, lambda s, a: s.upper()),
    'toLowerCase': (0, 0, lambda s, a: s.lower()),
    'capitalize': (0, 0, lambda s, a: s[:1].upper() + s[1:]),
    'trim': (0, 0, lambda s, a: s.strip()),
    'substring': (1, 2, _substring),
    'substringBefore': (1, 1, lambda s, a: s.partition(_str(a[0]))[0]),
    'substringAfter': (1, 1, lambda s, a: s.partition(_str(a[0]))[2]),
    'replace': (2, 2, lambda s, a: s.replace(_str(a[0]), _str(a[1])) if _str(a[0]) else s),
    'remove': (1, 1, lambda s, a: s.replace(_str(a[0]), '') if _str(a[0]) else s),
    'abbreviate': (1, 1, _abbreviate),
    'concat': (1, 1, lambda s, a: s + _str(a[0])),
    'left': (1, 1, lambda s, a: s[: max(0, _int(a[0]))]),
    'right': (1, 1, lambda s, a: s[len(s) - max(0, _int(a[0])) :] if _int(a[0]) > 0 else ''),
    'length': (0, 0, lambda s, a: len(s)),
    'charAt': (1, 1, lambda s, a: s[_int(a[0])] if 0 <= _int(a[0]) < len(s) else ''),
    'indexOf': (1, 1, lambda s, a: s.find(_str(a[0]))),
    'contains': (1, 1, lambda s, a: _str(a[0]) in s),
    'startsWith': (1, 1, lambda s, a: s.startswith(_str(a[0]))),
    'endsWith': (1, 1, lambda s, a: s.endswith(_str(a[0]))),
    'equals': (1, 1, lambda s, a: s == _str(a[0])),
    'equalsIgnoreCase': (1, 1, lambda s, a: s.casefold() == _str(a[0]).casefold()),
    'isNotEmpty': (0, 0, lambda s, a: not is_empty(s)),
    'isAlpha': (0, 0, lambda s, a: s.isalpha()),
    'isNumeric': (0, 0, lambda s, a: s.isdigit()),
    'asNumber': (0, 0, lambda s, a: as_number(s)),
    'split': (1, 1, lambda s, a: s.split(_str(a[0])) if _str(a[0]) else list(s)),
    'reverse': (0, 0, lambda s, a: s[::-1]),
    'htmlEncode': (0, 0, lambda s, a: html.escape(s)),
    'jsonEncode': (0, 0, lambda s, a: json.dumps(s)[1:-1]),
    'urlEncode': (0, 0, lambda s, a: quote(s, safe='')),
    'quote': (0, 0, lambda s, a: regex.escape(s)),
}
REGEX_TEXT = {'replaceAll': 2, 'match': 1}


def _join(items: list[Any], args: list[Any]) -> str:
    return _str(args[0] if args else ', ').join(to_text(item) for item in items)


def _get(items: list[Any], args: list[Any]) -> Any:
    index = _int(args[0])
    return items[index] if -len(items) <= index < len(items) else None


def _sum(items: list[Any], args: list[Any]) -> Any:
    numbers = [as_number(item) for item in items]
    return sum(Decimal(str(n)) for n in numbers if n is not None)


LIST: dict[str, tuple[int, int, Fn]] = {
    'size': (0, 0, lambda v, a: len(v)),
    'first': (0, 0, lambda v, a: v[0] if v else None),
    'last': (0, 0, lambda v, a: v[-1] if v else None),
    'join': (0, 1, _join),
    'get': (1, 1, _get),
    'distinct': (0, 0, lambda v, a: list({json.dumps(i, sort_keys=True, default=str): i for i in v}.values())),
    'isNotEmpty': (0, 0, lambda v, a: bool(v)),
    'sum': (0, 0, _sum),
}


def _round(number: Decimal, args: list[Any]) -> Decimal:
    places = _int(args[0]) if args else 0
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _divide(number: Decimal, args: list[Any]) -> Decimal:
    divisor = _decimal(args[0])
    if divisor == 0:
        raise FunctionError('division by zero')
    return number / divisor


NUMBER: dict[str, tuple[int, int, Callable[[Decimal, list[Any]], Any]]] = {
    'plus': (1, 1, lambda n, a: n + _decimal(a[0])),
    'minus': (1, 1, lambda n, a: n - _decimal(a[0])),
    'multiply': (1, 1, lambda n, a: n * _decimal(a[0])),
    'divide': (1, 1, _divide),
    'round': (0, 1, _round),
    'floor': (0, 0, lambda n, a: n.to_integral_value(rounding='ROUND_FLOOR')),
    'ceil': (0, 0, lambda n, a: n.to_integral_value(rounding='ROUND_CEILING')),
    'abs': (0, 0, lambda n, a: abs(n)),
    'gt': (1, 1, lambda n, a: n > _decimal(a[0])),
    'gte': (1, 1, lambda n, a: n >= _decimal(a[0])),
    'lt': (1, 1, lambda n, a: n < _decimal(a[0])),
    'lte': (1, 1, lambda n, a: n <= _decimal(a[0])),
}

_SHIFTS = {'Seconds': 'seconds', 'Minutes': 'minutes', 'Hours': 'hours', 'Days': 'days', 'Weeks': 'weeks'}


def _date_arg(arg: Any) -> datetime:
    moment = dates.parse_date(arg)
    if moment is None:
        raise FunctionError('expected a date')
    return moment


def _shift(moment: datetime, unit: str, count: int) -> datetime:
    if unit == 'Months':
        return dates.add_months(moment, count)
    if unit == 'Years':
        return dates.add_months(moment, 12 * count)
    if unit == 'BusinessDays':
        return dates.business_days(moment, count)
    return moment + timedelta(**{_SHIFTS[unit]: count})


def _format(moment: datetime, args: list[Any]) -> str:
    try:
        return dates.format_date(moment, _str(args[0]))
    except dates.DateFormatError as exc:
        raise FunctionError(str(exc)) from None


DATE: dict[str, tuple[int, int, Callable[[datetime, list[Any]], Any]]] = {
    'format': (1, 1, _format),
    'jiraDate': (0, 0, lambda d, a: d.strftime('%Y-%m-%d')),
    'jiraDateTime': (0, 0, lambda d, a: dates.format_date(d, "yyyy-MM-dd'T'HH:mm:ss.SSSZ")),
    'jqlDateTime': (0, 0, lambda d, a: d.strftime('%Y-%m-%d %H:%M')),
    'shortDate': (0, 0, lambda d, a: dates.format_date(d, 'd/MM/yy')),
    'longDateTime': (0, 0, lambda d, a: dates.format_date(d, "MMMM d, yyyy 'at' h:mm a")),
    'toMillis': (0, 0, lambda d, a: int(d.timestamp() * 1000)),
    'startOfDay': (0, 0, lambda d, a: dates.start_of_day(d)),
    'endOfDay': (0, 0, lambda d, a: dates.end_of_day(d)),
    'startOfMonth': (0, 0, lambda d, a: dates.start_of_day(d).replace(day=1)),
    'endOfMonth': (0, 0, lambda d, a: dates.end_of_day(dates.add_months(d.replace(day=1), 1) - timedelta(days=1))),
    'dayOfMonth': (0, 0, lambda d, a: d.day),
    'dayOfWeek': (0, 0, lambda d, a: d.isoweekday()),
    'dayOfWeekName': (0, 0, lambda d, a: dates.format_date(d, 'EEEE')),
    'monthOfYear': (0, 0, lambda d, a: d.month),
    'monthName': (0, 0, lambda d, a: dates.format_date(d, 'MMMM')),
    'year': (0, 0, lambda d, a: d.year),
    'hour': (0, 0, lambda d, a: d.hour),
    'minute': (0, 0, lambda d, a: d.minute),
    'isAfter': (1, 1, lambda d, a: d > _date_arg(a[0])),
    'isBefore': (1, 1, lambda d, a: d < _date_arg(a[0])),
    'isEquals': (1, 1, lambda d, a: d == _date_arg(a[0])),
    'diff': (1, 1, lambda d, a: Duration(_date_arg(a[0]) - d)),
    'isBusinessDay': (0, 0, lambda d, a: d.weekday() < 5),
}


def _shifter(unit: str, sign: int) -> Callable[[datetime, list[Any]], datetime]:
    return lambda moment, args: _shift(moment, unit, sign * _int(args[0]))


for _unit in (*_SHIFTS, 'Months', 'Years', 'BusinessDays'):
    DATE['plus' + _unit] = (1, 1, _shifter(_unit, 1))
    DATE['minus' + _unit] = (1, 1, _shifter(_unit, -1))

DURATION = ('millis', 'seconds', 'minutes', 'hours', 'days', 'weeks', 'months', 'years', 'businessDays')
# Called on None these still answer (a missing field is empty and has no items).
ON_NONE: dict[str, Any] = {'isEmpty': True, 'isNotEmpty': False, 'size': 0, 'length': 0}
NAMES = frozenset({*TEXT, *REGEX_TEXT, *LIST, *NUMBER, *DATE, *DURATION, 'prettyPrint', 'isEmpty', 'asNumber'})


def _check_arity(name: str, args: list[Any], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        wanted = str(low) if low == high else f'{low} to {high}'
        raise FunctionError(f'{name} takes {wanted} argument{"s" if high != 1 else ""}, got {len(args)}')


def _on_duration(name: str, value: Duration, args: list[Any]) -> Any:
    _check_arity(name, args, 0, 0)
    if name == 'prettyPrint':
        return value.pretty()
    if name == 'abs':
        return Duration(abs(value.delta))
    return value.unit(name)


def apply(name: str, value: Any, args: list[Any], *, regex_timeout: float) -> Any:
    """Call function ``name`` on ``value``; FunctionError for unknown names or bad arguments."""
    if name not in NAMES:
        raise FunctionError(f'unknown function {name!r}')
    if value is None:
        return ON_NONE.get(name)
    if name == 'isEmpty':
        return is_empty(value)
    if isinstance(value, Duration) and (name in DURATION or name in ('prettyPrint', 'abs')):
        return _on_duration(name, value, args)
    if isinstance(value, list) and name in LIST:
        low, high, fn = LIST[name]
        _check_arity(name, args, low, high)
        return fn(value, args)
    if isinstance(value, list):
        return [apply(name, item, args, regex_timeout=regex_timeout) for item in value]
    if name in DATE:
        low, high, date_fn = DATE[name]
        _check_arity(name, args, low, high)
        moment = dates.parse_date(value)
        return None if moment is None else date_fn(moment, args)
    if name in NUMBER:
        low, high, number_fn = NUMBER[name]
        _check_arity(name, args, low, high)
        number = as_number(value)
        return None if number is None else number_fn(Decimal(str(number)), args)
    return _on_text(name, value, args, regex_timeout)


def _on_text(name: str, value: Any, args: list[Any], regex_timeout: float) -> Any:
    text = to_text(value)
    if name in REGEX_TEXT:
        _check_arity(name, args, REGEX_TEXT[name], REGEX_TEXT[name])
        return _replace_all(text, args, regex_timeout) if name == 'replaceAll' else _match(text, args, regex_timeout)
    if name not in TEXT:
        # A list function on a single value: the value is a list of one.
        if name in LIST:
            low, high, fn = LIST[name]
            _check_arity(name, args, low, high)
            return fn([value], args)
        return None
    low, high, text_fn = TEXT[name]
    _check_arity(name, args, low, high)
    return text_fn(text, args)


def is_function(name: str) -> bool:
    return name in NAMES
