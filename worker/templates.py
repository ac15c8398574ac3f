"""Templates in rule text: the smart-value engine (worker.smartvalues) under its historic name.

Callers (actions, conditions, edits) import from here; the engine, its syntax and its bounds are
described in :mod:`worker.smartvalues`.
"""

from __future__ import annotations

from rulequeue import constants
from worker.smartvalues import Limits, Rendered, build_context, lookup, render, render_value, to_text

MAX_OUTPUT_CHARS = constants.SMART_VALUE_MAX_OUTPUT_CHARS
# render_value renders many strings (every leaf of an edit's values); their sum is bounded too.
MAX_VALUE_OUTPUT_CHARS = 8 * MAX_OUTPUT_CHARS

__all__ = [
    'MAX_OUTPUT_CHARS',
    'MAX_VALUE_OUTPUT_CHARS',
    'Limits',
    'Rendered',
    'build_context',
    'lookup',
    'render',
    'render_value',
    'to_text',
]
