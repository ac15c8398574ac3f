"""People changing issues on the simulated site: JiraSimulator's create, edit, transition,
assign, comment and delete.

A mixin, so that rulequeue/simulator/jira.py stays the site's outline: each method changes the
site's state (rulequeue.simulator.state) and sends what Jira sends for it through the
simulator's one delivery path (Connect webhooks, Forge events).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from rulequeue.simulator import catalog
from rulequeue.simulator.catalog import ALICE, JsonObject
from rulequeue.simulator.edits import FieldErrors
from rulequeue.simulator.state import Change, SimulatorError, SiteState, friendly_edit

User = Mapping[str, Any]


class IssueChanges:
    """Issue changes made by people, for :class:`~rulequeue.simulator.JiraSimulator`."""

    state: SiteState

    async def _deliver(self, change: Change, user: Mapping[str, Any]) -> list[httpx.Response]:
        raise NotImplementedError  # JiraSimulator's

    async def create_issue(
        self,
        project: str = 'PROJ',
        issuetype: str = 'Bug',
        summary: str = 'Something is broken',
        priority: str = 'Medium',
        labels: Sequence[str] = (),
        assignee: str | User | None = None,
        reporter: User = ALICE,
        **extra_fields: Any,
    ) -> tuple[JsonObject, list[httpx.Response]]:
        """Create an issue as ``reporter``; returns the issue and the app's answers to the webhooks.

        ``extra_fields`` take REST edit values or the short forms of :meth:`update_issue`.
        """
        changes = {'priority': priority, 'labels': list(labels), 'assignee': assignee, **extra_fields}
        change = self.state.create(
            project=project, issuetype=issuetype, summary=summary, reporter=reporter, changes=changes
        )
        return copy.deepcopy(change.issue), await self._deliver(change, reporter)

    async def update_issue(self, key: str, changes: Mapping[str, Any], user: User = ALICE) -> list[httpx.Response]:
        """Edit fields as ``user`` (``{'priority': 'High', 'labels': [...], 'customfield_10010': 'x'}``).

        Short forms: a priority name, an assignee accountId, component names, and
        ``labels={'add': [...], 'remove': [...]}``. Nothing is sent if nothing changed.
        """
        fields, update = friendly_edit(changes)
        try:
            change = self.state.edit(key, fields, update)
        except FieldErrors as exc:
            raise SimulatorError(f'invalid edit of {key}: {exc}') from None
        return [] if change is None else await self._deliver(change, user)

    async def transition_issue(self, key: str, status: str, user: User = ALICE) -> list[httpx.Response]:
        """Move the issue to the status named ``status`` as ``user``."""
        target = catalog.status_named(status)
        if target is None:
            raise SimulatorError(f'no status {status!r}; known: {", ".join(s.name for s in catalog.STATUSES)}')
        return await self._deliver(self.state.transition(key, target), user)

    async def assign_issue(self, key: str, account_id: str | None, user: User = ALICE) -> list[httpx.Response]:
        """Assign the issue (None unassigns) as ``user``; nothing is sent if it was already so."""
        try:
            change = self.state.assign(key, account_id)
        except FieldErrors as exc:
            raise SimulatorError(f'cannot assign {key}: {exc}') from None
        return [] if change is None else await self._deliver(change, user)

    async def add_comment(self, key: str, body: str, user: User = ALICE) -> list[httpx.Response]:
        """Comment as ``user``: sends ``comment_created`` and ``jira:issue_updated`` (issue_commented)."""
        _, change = self.state.comment(key, body, user)
        return await self._deliver(change, user)

    async def delete_issue(self, key: str, user: User = ALICE) -> list[httpx.Response]:
        """Delete the issue (and its comments) as ``user``."""
        return await self._deliver(self.state.delete(key), user)
