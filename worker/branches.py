"""The ``branch`` component: the rule's actions on related issues, one execution per issue, in order.

Automation for Jira queues branch items to run in parallel with each other and with the rest of
the rule, in no set order (AUTOMATION.md 2.1). Here each item is an execution of its own (its
own job, retries and audit row) with ``{{issue}}`` read from Jira and ``{{triggerIssue}}`` the
issue the rule started on, and the items run one after another:

* **Order.** Items are taken in Jira's order (sub-tasks as Jira lists them, links as the issue
  lists them, a search's results) and admitted into the line of the rule's own issue
  (worker/ordering.py), right behind the execution that branched and in item order. So item
  i + 1 starts when item i has finished, and the issue's next event waits for the branch, as if
  the branch had run inline. An item's own issue is not held: its events run beside it.
* **Bound.** At most MAX_BRANCH_ITEMS items run (and a ``jql`` branch's search stops at
  MAX_ISSUES_PER_SEARCH); the branch's audit result names how many were left out.
* **Effectively once.** An item's delivery id is made of the parent execution, the rule, the
  branch's place and the item's issue id, so a retried parent's admissions are duplicates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rulequeue import constants, intake
from rulequeue.errors import PermanentJiraError, TemplateError
from schemas.audit import ActionResult, ActionStatus
from schemas.events import WebhookEvent
from schemas.flow import BranchBlock
from schemas.job_options import TRIGGER_ISSUE
from schemas.jobs import BranchRef
from schemas.rules import StoredRule
from worker.flow import Flow
from worker.issue_search import FoundIssue, search_issues
from worker.templates import render

RELATION_FIELDS = 'subtasks,parent,issuelinks'


def item_delivery_id(parent_execution: str, rule_id: str, path: str, issue_id: str) -> str:
    return f'branch:{parent_execution}:{rule_id}:{path}:{issue_id}'


def _issue(value: Any) -> FoundIssue | None:
    if not isinstance(value, Mapping):
        return None
    issue_id, key = str(value.get('id') or ''), value.get('key')
    return FoundIssue(issue_id, key) if issue_id.isdigit() and isinstance(key, str) and key else None


def _linked(links: Any, link_type: str | None) -> list[FoundIssue]:
    """The linked issues in the issue's order, those of ``link_type`` only if given (its name, or
    the description the link reads with from this issue: "blocks", "is blocked by")."""
    wanted = link_type.casefold() if link_type else None
    found: list[FoundIssue] = []
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, Mapping):
            continue
        kind: Mapping[str, Any] = link['type'] if isinstance(link.get('type'), Mapping) else {}
        outward = 'outwardIssue' in link
        reads = str(kind.get('outward' if outward else 'inward') or '').casefold()
        descriptions = {str(kind.get(side) or '').casefold() for side in ('inward', 'outward')}
        # "blocks" is how a Blocks link reads one way: it names a direction, not the type.
        if wanted is not None and wanted != (reads if wanted in descriptions else str(kind.get('name')).casefold()):
            continue
        issue = _issue(link.get('outwardIssue' if outward else 'inwardIssue'))
        if issue is not None and issue not in found:
            found.append(issue)
    return found


async def related(
    flow: Flow, block: BranchBlock, issue: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[list[FoundIssue], str | None]:
    """The branch's issues, at most MAX_BRANCH_ITEMS, and a note when some were left out.

    Raises:
        TransientJiraError: Jira could not answer now (the execution retries).
        PermanentJiraError: Jira refused the read or the search.
        TemplateError: The ``jql`` did not render.
    """
    limit = flow.settings.max_branch_items
    if block.over == 'jql':
        jql = render(block.jql or '', context).text
        cap = min(limit, flow.settings.max_issues_per_search)
        result = await search_issues(flow.jira, flow.tenant, jql, limit=cap)
        if result.over_limit:
            return result.issues, f'the search found more than {cap} issues; the first {cap} ran, the rest did not'
        return result.issues, None
    # The relations as Jira has them now, not as the event saw them.
    path = f'/rest/api/2/issue/{quote(str(issue.get("id") or issue.get("key")), safe="")}'
    current: Any = await flow.jira.request(flow.tenant, 'GET', path, params={'fields': RELATION_FIELDS})
    fields = current.get('fields') if isinstance(current, Mapping) else None
    fields = fields if isinstance(fields, Mapping) else {}
    if block.over == 'parent':
        parent = _issue(fields.get('parent'))
        found = [parent] if parent else []
    elif block.over == 'subtasks':
        found = list(filter(None, map(_issue, fields.get('subtasks') or [])))
    else:
        found = _linked(fields.get('issuelinks'), block.link_type)
    if len(found) > limit:
        left = len(found) - limit
        return found[:limit], f'{len(found)} issues; the first {limit} ran (MAX_BRANCH_ITEMS), {left} did not'
    return found, None


async def _line(flow: Flow) -> tuple[str, str, float]:
    """Where the items queue: right behind this execution in its issue's line."""
    job = flow.job
    if job.order_key and job.order_member:
        score = await flow.redis.zscore(job.order_key, job.order_member)
        if score is not None:
            return job.order_key, job.order_member, float(score)
    # Unordered jobs (queued before ordering existed): a line of this execution's own.
    return constants.order_key(job.client_key, f'branch:{job.execution_id}'), '', 0.0


def _sortable(path: str) -> str:
    return '.'.join(part.zfill(4) if part.isdigit() else part for part in path.split('.'))


async def start(
    flow: Flow, stored: StoredRule, block: BranchBlock, where: str, top: int, context: Mapping[str, Any]
) -> ActionResult:
    """Admit one execution per related issue; the branch's result for the audit row."""
    path = where if '.' in where else None
    try:
        items, note = await related(flow, block, context['issue'], context)
    except (PermanentJiraError, TemplateError) as exc:
        message = f'branch template error: {exc.report()}' if isinstance(exc, TemplateError) else str(exc)
        return ActionResult(index=top, type='branch', path=path, status=ActionStatus.FAILED, message=message)
    key, member, score = await _line(flow)
    parent = flow.event.model_dump(mode='json', by_alias=True, exclude_unset=True)
    for number, item in enumerate(items):
        body = {**parent, 'issue': {'id': item.id, 'key': item.key}, TRIGGER_ISSUE: context['issue']}
        ref = BranchRef(
            parent_execution=flow.job.execution_id,
            rule_id=stored.id,
            rule_version=stored.version,
            path=where,
            item=number,
            items=len(items),
        )
        place = f'{member}~{stored.id}~{_sortable(where)}~{number:05d}'
        await intake.admit(
            flow.redis,
            flow.pool,
            flow.cipher,
            flow.job.client_key,
            item_delivery_id(flow.job.execution_id, stored.id, where, item.id),
            WebhookEvent.model_validate(body),
            json.dumps(body).encode(),
            licensed=flow.job.licensed,
            fetch_issue=True,
            rule_ids=(stored.id,),
            branch=ref,
            line=(key, place, score + number if not member else score),
        )
    changes = {'over': block.over, 'items': [i.key for i in items]}
    return ActionResult(index=top, type='branch', path=path, status=ActionStatus.SUCCESS, changes=changes, message=note)
