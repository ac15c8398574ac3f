"""People linking issues and logging work on the simulated site (JiraSimulator's methods).

A mixin, so that rulequeue/simulator/jira.py stays the site's outline: the state changes are
in rulequeue.simulator.relations and rulequeue.simulator.link_worklog, the webhooks go out
through the simulator's one delivery path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from rulequeue.simulator import link_worklog, relations
from rulequeue.simulator.catalog import ALICE
from rulequeue.simulator.state import Change, SimulatorError, SiteState


class LinksAndWorklogs:
    """``link_issues`` and ``add_worklog`` for :class:`~rulequeue.simulator.JiraSimulator`."""

    state: SiteState

    async def _deliver(self, change: Change, user: Mapping[str, Any]) -> list[httpx.Response]:
        raise NotImplementedError  # JiraSimulator's

    async def link_issues(
        self, source: str, destination: str, link_type: str = 'Blocks', user: Mapping[str, Any] = ALICE
    ) -> list[httpx.Response]:
        """Link ``source`` to ``destination`` as ``user`` ("source blocks destination"): sends
        ``issuelink_created``; returns the app's answers."""
        if link_type not in relations.LINK_TYPES:
            raise SimulatorError(f'no link type {link_type!r}; known: {", ".join(relations.LINK_TYPES)}')
        change = relations.make_link(self.state, link_type, self.state.require(source), self.state.require(destination))
        return await self._deliver(change, user)

    async def add_worklog(
        self, key: str, seconds: int, user: Mapping[str, Any] = ALICE, comment: str | None = None
    ) -> list[httpx.Response]:
        """Log ``seconds`` of work on the issue as ``user``: sends ``worklog_created``."""
        change = link_worklog.log_work(self.state, self.state.require(key), seconds, user, comment)
        return await self._deliver(change, user)
