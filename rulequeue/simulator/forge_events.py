"""Forge's deliveries to the app's remote: product events for the site's changes, lifecycle calls,
the hourly keep-alive and ``preUninstall`` (FORGE.md 3.1, 4).

Product events are shaped as FORGE.md section 4 describes: a partial issue
``{id, key, fields: {summary, issueType, creator, created, project, reporter, assignee,
updated, status}}`` with users as ``{accountId}``, the changelog with its id, the comment,
``atlassianId`` and ``timestamp`` (epoch milliseconds, a string). An assignment sends
``assigned`` *and* ``updated``, as Forge does. Each delivery is a POST with
``Authorization: Bearer <FIT>`` (a fresh token per attempt) and ``x-forge-oauth-system`` (the
app system token, cached and re-sent as Forge does), in the ``bare`` or ``{"payload": ...}``
envelope. A non-2xx answer or no answer is redelivered after each of ``retry_delays`` with
``retryContext {retryCount, retryReason, retryData}``; none by default, so tests see one attempt.

Nothing here is used in production.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from rulequeue.simulator import link_worklog
from rulequeue.simulator.catalog import ALICE, JsonObject
from rulequeue.simulator.forge import ForgePlatform
from rulequeue.simulator.state import Change

EVENTS_PATH = '/forge/events'
LIFECYCLE_PATH = '/forge/lifecycle'
REFRESH_PATH = '/forge/refresh'
UNINSTALL_PATH = '/forge/uninstall'
# Module keys as rulequeue's manifest names them (rulequeue.forge.manifest).
MODULE_KEYS = {
    EVENTS_PATH: 'rq-jira-events',
    LIFECYCLE_PATH: 'rq-app-lifecycle',
    REFRESH_PATH: 'rq-token-keepalive',
    UNINSTALL_PATH: 'rq-before-uninstall',
}
# Forge's own re-delivery: 4 times, 60 s apart (remote-events); tests compress the delays.
FORGE_RETRY_DELAYS = (60.0, 60.0, 60.0, 60.0)
# Forge re-sends a cached system token while it has at least this long to live (FORGE.md 3.4).
TOKEN_REUSE_SECONDS = 2 * 3600
TRANSPORT_ERROR = 0  # logged as the status of an attempt that got no answer

_KINDS = {
    'created': ('avi:jira:created:issue',),
    'updated': ('avi:jira:updated:issue',),
    'transitioned': ('avi:jira:updated:issue',),
    'assigned': ('avi:jira:assigned:issue', 'avi:jira:updated:issue'),
    'commented': ('avi:jira:commented:issue',),
    'deleted': ('avi:jira:deleted:issue',),
}


def _user(value: Any) -> JsonObject | None:
    return {'accountId': value['accountId']} if isinstance(value, Mapping) and 'accountId' in value else None


def _named(value: Any, *names: str) -> JsonObject | None:
    return {name: value[name] for name in names if name in value} if isinstance(value, Mapping) else None


def partial_issue(issue: Mapping[str, Any]) -> JsonObject:
    """The issue as a Forge event carries it: not a REST snapshot (the app must fetch the issue)."""
    fields = issue['fields']
    return {
        'id': issue['id'],
        'key': issue['key'],
        'fields': {
            'summary': fields.get('summary'),
            'issueType': _named(fields.get('issuetype'), 'id', 'name'),
            'creator': _user(fields.get('creator')),
            'created': fields.get('created'),
            'project': _named(fields.get('project'), 'id', 'key', 'name'),
            'reporter': _user(fields.get('reporter')),
            'assignee': _user(fields.get('assignee')),
            'updated': fields.get('updated'),
            'status': _named(fields.get('status'), 'id', 'name'),
        },
    }


def _comment(comment: Mapping[str, Any]) -> JsonObject:
    body = {k: copy.deepcopy(comment[k]) for k in ('id', 'body', 'created', 'updated') if k in comment}
    for name in ('author', 'updateAuthor'):
        if (user := _user(comment.get(name))) is not None:
            body[name] = user
    return body


def events_for(change: Change, actor: Mapping[str, Any], *, self_generated: bool = False) -> list[JsonObject]:
    """The Forge product events for ``change`` made by ``actor``, in sending order."""
    if change.kind in link_worklog.KINDS:  # a new link or worklog: one event, no issue in it
        return [link_worklog.forge_event_for(change, actor, self_generated=self_generated)]
    out = []
    for event_type in _KINDS[change.kind]:
        event: JsonObject = {
            'eventType': event_type,
            'timestamp': str(int(change.at * 1000)),
            'selfGenerated': self_generated,
            'atlassianId': actor['accountId'],
            'issue': partial_issue(change.issue),
        }
        if change.items:
            event['changelog'] = {'id': change.changelog_id, 'items': copy.deepcopy(list(change.items))}
        if change.comment is not None:
            event['comment'] = _comment(change.comment)
        out.append(event)
    return out


def retry_reason(status: int) -> str:
    """Forge's ``retryReason`` for a failed attempt (0: no answer in time)."""
    if status == TRANSPORT_ERROR:
        return 'TIMEOUT_ERROR'
    if status == 401:
        return 'INVALID_FORGE_INVOCATION_TOKEN'
    return 'INVALID_REMOTE_INVOCATION_ERROR'


@dataclass
class ForgeDelivery:
    """One event sent to the remote and the status of each attempt (0: no answer)."""

    path: str
    event: JsonObject
    statuses: list[int] = field(default_factory=list)
    bodies: list[JsonObject] = field(default_factory=list)  # exactly what each attempt sent

    @property
    def accepted(self) -> bool:
        return bool(self.statuses) and 200 <= self.statuses[-1] < 300


class ForgeSender:
    """Forge's side of calls into the app's remote for one installation.

    Attributes:
        app_url: The remote's ``baseUrl`` (the producer's URL); None: Forge sends nothing.
            Product events go to ``{app_url}/forge/events``, lifecycle to ``/forge/lifecycle``,
            the keep-alive to ``/forge/refresh``, ``preUninstall`` to ``/forge/uninstall``.
        envelope: 'bare' (the event is the body) or 'payload' (``{"payload": event}``).
        retry_delays: Seconds before each re-delivery (Forge: FORGE_RETRY_DELAYS).
        send_system_token: Send ``x-forge-oauth-system`` (the endpoint's appSystemToken auth).
        deliveries: Every delivery, with each attempt's status and body.
        hold: Keep product events in :attr:`held` instead of sending them, until
            :meth:`release`: Forge queues events for up to minutes (FORGE.md 4), so a site's
            Connect webhook of a change can come well before its Forge event.
        settle: Awaited after each product event is delivered (None: nothing). The demo waits
            there for the app to run it: the app reads the issue when the rule runs, so
            changes made faster than rules run would be judged on a later state.
    """

    def __init__(self, platform: ForgePlatform, client: Callable[[], httpx.AsyncClient]) -> None:
        self.platform = platform
        self._client = client
        self.app_url: str | None = None
        self.envelope: Literal['bare', 'payload'] = 'bare'
        self.retry_delays: tuple[float, ...] = ()
        self.send_system_token = True
        self.deliveries: list[ForgeDelivery] = []
        self.hold = False
        self.held: list[ForgeDelivery] = []
        self.settle: Callable[[], Awaitable[None]] | None = None
        self._system_token: str | None = None

    def system_token(self) -> str:
        """The token Forge sends now: the cached one while it has two hours left, else a new one."""
        token = self._system_token
        expires = self.platform.system_tokens.get(token) if token else None
        if token is None or expires is None or expires - time.time() < TOKEN_REUSE_SECONDS:
            token = self._system_token = self.platform.mint_system_token()
        return token

    def _url(self, path: str) -> str:
        if self.app_url is None:
            raise ValueError('no Forge remote registered: set app_url')
        return self.app_url.rstrip('/') + path

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        fit: str | None = None,
        headers: Mapping[str, str | None] | None = None,
    ) -> httpx.Response:
        """One POST to the remote as Forge makes it; ``headers`` values of None drop a header."""
        module = {'type': 'core:endpoint', 'key': MODULE_KEYS.get(path, 'rq-jira-events')}
        sent = httpx.Headers(
            {
                'Authorization': f'Bearer {fit or self.platform.mint_invocation_token(app={"module": module})}',
                'Content-Type': 'application/json',
                'x-b3-traceid': uuid.uuid4().hex,
                'x-b3-spanid': uuid.uuid4().hex[:16],
            }
        )
        if self.send_system_token:
            sent['x-forge-oauth-system'] = self.system_token()
        for name, value in (headers or {}).items():
            if value is None:
                sent.pop(name, None)
            else:
                sent[name] = value
        return await self._client().post(self._url(path), json=dict(body), headers=sent)

    def wrap(self, event: Mapping[str, Any], retry: JsonObject | None) -> JsonObject:
        """The body in this sender's envelope, with the retryContext of a re-delivery."""
        inner = {**event, **({'retryContext': retry} if retry is not None else {})}
        return {'payload': inner} if self.envelope == 'payload' else inner

    async def deliver(self, delivery: ForgeDelivery) -> httpx.Response | None:
        """Send ``delivery``, then again after each of ``retry_delays`` while it is not accepted.

        With no delays a transport error propagates, as for Connect webhooks. Returns the last
        answer (None if the last attempt got none).
        """
        self.deliveries.append(delivery)
        attempts = len(self.retry_delays) + 1
        answer: httpx.Response | None = None
        retry: JsonObject | None = None
        for attempt in range(attempts):
            body = self.wrap(delivery.event, retry)
            delivery.bodies.append(body)
            try:
                answer = await self.post(delivery.path, body)
            except httpx.TransportError:
                if not self.retry_delays:
                    raise
                answer = None
                delivery.statuses.append(TRANSPORT_ERROR)
            else:
                delivery.statuses.append(answer.status_code)
            if delivery.accepted or attempt == attempts - 1:
                return answer
            retry = {'retryCount': attempt + 1, 'retryReason': retry_reason(delivery.statuses[-1]), 'retryData': None}
            await asyncio.sleep(self.retry_delays[attempt])
        return answer

    async def send_change(
        self, change: Change, actor: Mapping[str, Any], *, self_generated: bool = False
    ) -> list[httpx.Response]:
        """Deliver the product events for ``change``; nothing while no remote is registered."""
        if self.app_url is None:
            return []
        answers = []
        for event in events_for(change, actor, self_generated=self_generated):
            if self.hold:
                self.held.append(ForgeDelivery(EVENTS_PATH, event))
                continue
            answer = await self.deliver(ForgeDelivery(EVENTS_PATH, event))
            if answer is not None:
                answers.append(answer)
            if self.settle is not None:
                await self.settle()
        return answers

    async def release(self) -> list[httpx.Response]:
        """Send the events held back while :attr:`hold` was set, oldest first, and stop holding."""
        self.hold = False
        held, self.held = self.held, []
        answers = []
        for delivery in held:
            answer = await self.deliver(delivery)
            if answer is not None:
                answers.append(answer)
        return answers

    async def redeliver(self, delivery: ForgeDelivery, *, reason: str = 'TIMEOUT_ERROR') -> httpx.Response:
        """Send an accepted delivery again, as Forge does when it did not see the answer in time.

        The body carries ``retryContext`` with the next ``retryCount`` (one per earlier attempt).
        """
        retry: JsonObject = {'retryCount': len(delivery.statuses), 'retryReason': reason, 'retryData': None}
        body = self.wrap(delivery.event, retry)
        delivery.bodies.append(body)
        answer = await self.post(delivery.path, body)
        delivery.statuses.append(answer.status_code)
        return answer

    def lifecycle_event(self, event: Literal['installed', 'upgraded'], *, version: str = '1.0.0') -> JsonObject:
        """``avi:forge:installed:app`` / ``avi:forge:upgraded:app``; ``app.id`` a bare UUID as in Forge's example."""
        platform = self.platform
        body: JsonObject = {
            'eventType': f'avi:forge:{event}:app',
            'id': platform.installation_id,
            'app': {'id': platform.app_id.rpartition('/')[2], 'version': version, 'name': 'rulequeue'},
            'environment': {'id': platform.environment_id},
            'context': f'ari:cloud:jira::site/{platform.cloud_id}',
            'timestamp': str(int(time.time() * 1000)),
        }
        if event == 'installed':
            body['installerAccountId'] = ALICE['accountId']
        else:
            body['upgraderAccountId'] = ALICE['accountId']
            body['permissions'] = {'scopes': ['read:app-system-token', 'read:jira-work', 'write:jira-work']}
        return body

    async def lifecycle(
        self, event: Literal['installed', 'upgraded'], *, version: str = '1.0.0'
    ) -> httpx.Response | None:
        """The installed/upgraded lifecycle event, to ``/forge/lifecycle``."""
        return await self.deliver(ForgeDelivery(LIFECYCLE_PATH, self.lifecycle_event(event, version=version)))

    def _scheduled(self, path: str) -> JsonObject:
        return {'context': {'cloudId': self.platform.cloud_id, 'moduleKey': MODULE_KEYS[path]}}

    async def refresh(self) -> httpx.Response:
        """The hourly scheduled trigger (``/forge/refresh``): Forge does not retry those."""
        return await self.post(REFRESH_PATH, self._scheduled(REFRESH_PATH))

    async def pre_uninstall(self, *, revoke: bool = True) -> httpx.Response:
        """``preUninstall`` (``/forge/uninstall``, best effort, no retries); then, with ``revoke``,
        the app is gone: every system token minted so far stops working."""
        try:
            return await self.post(UNINSTALL_PATH, self._scheduled(UNINSTALL_PATH))
        finally:
            if revoke:
                self.platform.revoke_system_tokens()
                self._system_token = None
