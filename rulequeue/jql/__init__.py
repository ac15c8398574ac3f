"""JQL: parse (syntax), evaluate on an issue's JSON (evaluate, fields, dates), write back (render).

Used by the producer to refuse a rule whose query does not parse (422 with the position), by
the worker to decide a ``jql`` condition or trigger filter on the snapshot, and by the Jira
simulator to answer searches.
"""

from __future__ import annotations

from rulequeue.jql.evaluate import JqlContext, evaluate_locally
from rulequeue.jql.render import restrict_to_issue, to_jql
from rulequeue.jql.syntax import Query, parse

__all__ = ['JqlContext', 'Query', 'evaluate_locally', 'parse', 'restrict_to_issue', 'to_jql']
