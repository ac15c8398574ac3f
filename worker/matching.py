"""Which rules an event triggers, and whether their conditions hold.

Value semantics of conditions (the README's "Rule format" summarises them for rule authors):

* A Jira object (a user, a priority, ``{"name": "Bug", "id": "10004"}``) compares by each
  of ``name``, ``value``, ``key``, ``displayName``, ``accountId``, ``emailAddress``, ``id``:
  ``issuetype equals "Bug"`` holds, and so does ``assignee equals`` an account id or name.
* ``equals``, ``not_equals``, ``in``, ``not_in`` and ``contains`` ignore case (as Jira
  names do). Numbers compare as numbers when both sides are plain decimals (``3`` equals
  ``"3.0"``); booleans read as ``true``/``false``.
* ``matches`` is a regex search, case-sensitive unless the pattern says otherwise, over the
  first MAX_MATCH_CHARS characters of each string, with the ``regex`` engine (the schema
  validates patterns with it) and MATCH_TIMEOUT_SECONDS per condition: out of time means
  not met, and the description says so.
* Lists (labels, components): ``equals`` a list is set equality, ``equals`` one value means
  the list is exactly that value; ``in`` and ``contains`` hold when some element equals a
  value (``not_in`` when none does); ``matches`` when some element matches. A non-list
  field value acts as a list of one, except that ``contains`` is a substring test on it.
  ``contains`` a list of values holds when each of them is contained.
* ``is_empty``: absent, None, ``''``, ``[]`` or ``{}``.
* ``compare`` compares the rendered text of two templates (empty text is empty). In the
  right side of ``matches``, substituted values are regex-escaped: issue data matches
  literally and cannot inject a (slow) pattern.
* ``jql`` is decided here on the snapshot when rulequeue.jql can; otherwise its outcome is
  ``needs_jira`` (not met here) and worker.jql_checks asks Jira with a signed search.
* ``greater_than``, ``less_than`` and their ``_or_equal`` forms order two numbers, or two dates
  (ISO dates, Jira date-times) as instants; anything else (empty, text, a number against a
  date) is not met, and the description says which kinds met, never the values.
* ``user`` ``is``/``is_not`` reads the initiator's account id from the event; ``in_group`` and
  ``not_in_group`` are ``needs_jira`` here, decided by worker.user_checks with one signed call.

Condition descriptions are built from the rule only (field, op, expected value), never from
the issue's actual values: they go into audit entries, which must not copy issue data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import regex

from rulequeue import constants
from rulequeue.errors import IncomparableValues, JqlError, TemplateError
from rulequeue.jql import JqlContext, evaluate_locally, parse
from schemas import rules
from schemas.events import WebhookEvent
from schemas.rules import CompareCondition, Condition, FieldCondition, JqlCondition, Rule, Trigger
from schemas.user_condition import UserCondition
from worker import link_worklog
from worker.compare import check
from worker.templates import render

# Display names (case-folded) of system fields, to their Jira ids; each id is its own alias.
_ALIASES = {
    'issuetype': ('issue type', 'type'),
    'labels': ('label',),
    'components': ('component', 'component/s'),
    'duedate': ('due date',),
    'fixVersions': ('fix version/s', 'fix versions'),
    'versions': ('affects version/s', 'affects versions'),
}
_SYSTEM_FIELDS: tuple[str, ...] = ('status', 'priority', 'assignee', 'reporter', 'summary', 'description')
_SYSTEM_FIELDS += ('environment', 'resolution', 'project', 'created', 'updated', *_ALIASES)
FIELD_ALIASES = {alias: f for f in _SYSTEM_FIELDS for alias in (f.casefold(), *_ALIASES.get(f, ()))}


def resolve_field_id(name: str) -> str:
    """Return the Jira id of a field given by id or by a system field's display name.

    ``'Issue Type'`` -> ``'issuetype'``, ``'Customfield_10010'`` -> ``'customfield_10010'``;
    an unknown name is returned as given (without surrounding spaces).
    """
    folded = name.strip().casefold()
    if folded.startswith('customfield_'):
        return folded
    return FIELD_ALIASES.get(folded, name.strip())


def field_value(issue: Mapping[str, Any], field: str) -> Any:
    """Return the value of an issue field by id or display name; None if absent.

    ``key`` and ``id`` read the issue's own key and id; other names not found exactly are
    looked up case-insensitively among the issue's field ids.
    """
    fields = issue.get('fields')
    fields = fields if isinstance(fields, Mapping) else {}
    field_id = resolve_field_id(field)
    if field_id in fields:
        return fields[field_id]
    if field_id in ('key', 'id'):
        return issue.get(field_id)
    folded = field_id.casefold()
    for name, value in fields.items():
        if isinstance(name, str) and name.casefold() == folded:
            return value
    return None


def in_scope(rule: Rule, event: WebhookEvent) -> bool:
    """Tell whether the event's project is one of the rule's (every project if none listed).

    The project is ``fields.project.key``; an issue without it (some deletion payloads are
    trimmed) falls back to the prefix of its key. Keys compare case-sensitively, as in Jira.
    """
    if not rule.projects:
        return True
    project = event.issue.fields.get('project')
    key = project.get('key') if isinstance(project, Mapping) else None
    if not isinstance(key, str):
        key = event.issue.key.rpartition('-')[0]
    return key in rule.projects


def _changes(event: WebhookEvent) -> list[tuple[set[str], str | None, str | None]]:
    """({field, fieldId} case-folded, fromString, toString) of each changelog item."""
    items = event.changelog.items if event.changelog else []
    return [
        ({item.field.casefold(), (item.fieldId or item.field).casefold()}, item.fromString, item.toString)
        for item in items
    ]


def _same_name(wanted: str | None, actual: str | None) -> bool:
    return wanted is None or wanted.casefold() == (actual or '').casefold()


def trigger_matches(trigger: Trigger, event: WebhookEvent) -> bool:
    """Tell whether the event is one the trigger fires on.

    Every trigger but ``issue_created``, ``issue_commented`` and ``issue_deleted`` needs a
    ``jira:issue_updated`` event with a non-empty changelog: Jira sends a comment-only update
    without one, and that is not an edit. ``manual`` and ``scheduled`` fire only on the
    synthetic events of our own runs (a Jira webhook never carries those names).
    """
    kind = event.webhookEvent
    if isinstance(trigger, rules.Manual):
        return kind == constants.MANUAL_EVENT
    if isinstance(trigger, rules.Scheduled):
        return kind == constants.SCHEDULED_EVENT
    linked_or_logged = link_worklog.matches(trigger, event)  # issue_linked, worklog_added
    if linked_or_logged is not None:
        return linked_or_logged
    if isinstance(trigger, rules.IssueCreated):
        return kind == 'jira:issue_created'
    if isinstance(trigger, rules.IssueDeleted):
        return kind == 'jira:issue_deleted'
    if isinstance(trigger, rules.IssueCommented):
        # Only comment_created: Jira also sends a jira:issue_updated 'issue_commented' for the
        # same comment, and firing on both would run the rule twice.
        return kind == 'comment_created'
    changes = _changes(event) if kind == 'jira:issue_updated' else []
    if isinstance(trigger, rules.IssueUpdated):
        return bool(changes)
    if isinstance(trigger, rules.FieldValueChanged):
        wanted = {name.strip().casefold() for name in trigger.fields}
        wanted |= {resolve_field_id(name).casefold() for name in trigger.fields}
        return any(names & wanted for names, _, _ in changes)
    if isinstance(trigger, rules.IssueAssigned):
        return any('assignee' in names for names, _, _ in changes)
    if isinstance(trigger, rules.IssueTransitioned):
        return any(
            'status' in names and _same_name(trigger.from_, before) and _same_name(trigger.to, after)
            for names, before, after in changes
        )
    return False


@dataclass(frozen=True)
class ConditionOutcome:
    """The outcome of one condition; ``description`` comes from the rule's config only."""

    index: int
    passed: bool
    description: str
    unknown_paths: tuple[str, ...] = ()
    needs_jira: bool = False  # a jql condition the snapshot cannot decide (passed is False until Jira says)


def _show(expected: Any) -> str:
    if isinstance(expected, bool):
        return 'true' if expected else 'false'
    if isinstance(expected, list):
        return '[' + ', '.join(_show(item) for item in expected) + ']'
    return repr(expected)


def _describe(index: int, subject: str, op: str, expected: Any, passed: bool | str | None) -> str:
    shown = '' if expected is None else f' {_show(expected)}'
    if passed is None:
        return f'condition {index}: {subject} {op}{shown} -> not met (pattern timed out)'
    if isinstance(passed, str):
        return f'condition {index}: {subject} {op}{shown} -> not met ({passed})'
    return f'condition {index}: {subject} {op}{shown} -> {"met" if passed else "not met"}'


def _check_in_time(op: str, actual: Any, expected: Any, pattern_source: Any) -> bool | str | None:
    """Apply check; None when a ``matches`` pattern runs out of time, why when values cannot be ordered.

    Raises:
        TemplateError: When the pattern is invalid: the schema refuses those, so only a
            rendered ``compare`` pattern gets here, and the worker records it as such.
    """
    try:
        return check(op, actual, expected)
    except TimeoutError:
        return None
    except IncomparableValues as exc:
        return str(exc)  # not met: names the kinds of the values, never the values
    except regex.error:
        message = 'the pattern is not a valid regular expression'
        raise TemplateError(message, template=str(pattern_source), position=0) from None


def evaluate_conditions(
    conditions: Sequence[Condition],
    event: WebhookEvent,
    context: Mapping[str, Any],
    *,
    start: int = 1,
    jql_context: JqlContext | None = None,
) -> list[ConditionOutcome]:
    """Evaluate conditions in order, stopping after the first that does not hold.

    Args:
        conditions: The rule's conditions.
        event: The webhook event (its issue is read if the context has none).
        context: The template data, as built by worker.templates.build_context.
        start: The number of the first condition (to go on after one that Jira decided).
        jql_context: What ``jql`` conditions are evaluated against (now, currentUser()).

    Returns:
        One outcome per condition evaluated; if one failed or needs Jira, it is the last.

    Raises:
        TemplateError: When a ``compare`` template has a syntax error or renders too long.
    """
    outcomes: list[ConditionOutcome] = []
    issue = context.get('issue') or event.issue.model_dump(mode='json')
    for index, condition in enumerate(conditions, start=start):
        if isinstance(condition, FieldCondition):
            actual = field_value(issue, condition.field)
            passed = _check_in_time(condition.op, actual, condition.value, condition.value)
            description = _describe(index, condition.field, condition.op, condition.value, passed)
            outcome = ConditionOutcome(index, passed is True, description)
        elif isinstance(condition, UserCondition):
            outcome = _user(index, condition, context)
        elif isinstance(condition, JqlCondition):
            outcome = _jql(index, condition, issue, jql_context or JqlContext(now=datetime.now(UTC)))
        else:
            outcome = _compare(index, condition, context)
        outcomes.append(outcome)
        if not outcome.passed:
            break
    return outcomes


def _jql(index: int, condition: JqlCondition, issue: Mapping[str, Any], context: JqlContext) -> ConditionOutcome:
    try:
        matched = evaluate_locally(parse(condition.jql), issue, context)
    except JqlError:
        matched = None  # saved before a parser change: Jira, the authority on JQL, decides
    if matched is None:
        return ConditionOutcome(index, False, f'condition {index} jql: needs a jira search', needs_jira=True)
    return ConditionOutcome(index, matched, f'condition {index} jql: local, {"matched" if matched else "not matched"}')


def _compare(index: int, condition: CompareCondition, context: Mapping[str, Any]) -> ConditionOutcome:
    left = render(condition.left, context)
    unknown = list(left.unknown_paths)
    right: Any = condition.right
    if isinstance(right, str):
        # Issue data spliced into a pattern must match literally (and not backtrack badly).
        escape = regex.escape if condition.op == 'matches' else None
        rendered = render(right, context, escape=escape)
        right = rendered.text
        unknown.extend(rendered.unknown_paths)
    elif isinstance(right, list):
        items = [render(item, context) for item in right]
        right = [item.text for item in items]
        unknown.extend(path for item in items for path in item.unknown_paths)
    # The error names the rule's template, never the rendered pattern with issue data in it.
    passed = _check_in_time(condition.op, left.text or None, right, condition.right)
    description = _describe(index, repr(condition.left), condition.op, condition.right, passed)
    return ConditionOutcome(index, passed is True, description, tuple(dict.fromkeys(unknown)))


def initiator_id(context: Mapping[str, Any]) -> str | None:
    """The account id of whoever caused the event (``{{initiator}}``), None if Jira sent none."""
    initiator = context.get('initiator')
    account_id = initiator.get('accountId') if isinstance(initiator, Mapping) else None
    return account_id if isinstance(account_id, str) and account_id else None


def describe_user(index: int, condition: UserCondition, passed: bool, note: str = '') -> str:
    """``condition 2: initiator in_group 'jira-admins' -> met``, from the rule's config only."""
    expected = condition.group if condition.group is not None else condition.account_ids
    return _describe(index, condition.who, condition.op, expected, note or passed)


def _user(index: int, condition: UserCondition, context: Mapping[str, Any]) -> ConditionOutcome:
    account_id = initiator_id(context)
    if condition.account_ids is not None:
        passed = (account_id in condition.account_ids) == (condition.op == 'is')
        return ConditionOutcome(index, passed, describe_user(index, condition, passed))
    if account_id is None:
        # No one to ask Jira about: not a member of any group.
        passed = condition.op == 'not_in_group'
        return ConditionOutcome(
            index, passed, describe_user(index, condition, passed, '' if passed else 'no initiator')
        )
    return ConditionOutcome(index, False, f'condition {index} user: needs jira', needs_jira=True)
