"""How smart values read as text, as numbers and as true/false.

Values are plain JSON data (dict, list, str, int, float, bool, None) plus the two kinds the
engine makes itself: dates (``datetime``) and durations. Anything else never reaches text:
``str()`` would run the object's own code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from worker.smartvalues.dates import Duration, iso

# Keys of a Jira object that best stand for it in text, in order of preference.
REPRESENTATIVE_KEYS = ('name', 'value', 'displayName', 'key', 'id')
_NUMBER = re.compile(r'\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*')


def to_text(value: Any) -> str:
    """A string as-is; numbers and booleans as JSON (``3``, ``2.5``, ``true``); None as nothing;
    a date as ISO-8601 UTC; a Jira object by its first representative key, else compact JSON;
    a list as its items joined by ``', '``."""
    if value is None:
        return ''
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Duration):
        return value.pretty()
    if isinstance(value, Mapping):
        for key in REPRESENTATIVE_KEYS:
            item = value.get(key)
            if isinstance(item, str | int) and not isinstance(item, bool):
                return str(item)
        return json.dumps(value, separators=(',', ':'), sort_keys=True, default=lambda _: None)
    if isinstance(value, list):
        return ', '.join(to_text(item) for item in value)
    return ''


def is_empty(value: Any) -> bool:
    """None, ``''`` (or only spaces), ``[]``, ``{}`` and False are empty."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


def as_number(value: Any) -> int | float | None:
    """A number from a number or a plain decimal string (``' 3.50 '``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return int(number) if number == number.to_integral_value() and 'e' not in value.lower() else float(number)
    return None


def number_text(value: Decimal | float | int) -> str:
    """A computed number: integral ones without a fraction, others to at most 10 decimals."""
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    if number == number.to_integral_value():
        return str(int(number))
    text = format(number.quantize(Decimal('1e-10')).normalize(), 'f')
    return text
