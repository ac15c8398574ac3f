"""The public face of the simulator: one Jira Cloud site, one tenant, one installed app."""

from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from rulequeue.serve import serve_in_background
from rulequeue.simulator import changelog, events, forge_self
from rulequeue.simulator.app import build_app
from rulequeue.simulator.appevents import AppEventSender
from rulequeue.simulator.calls import Fault, FaultPlan, RecordedCall
from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.connect import AppRegistration, ConnectLink
from rulequeue.simulator.forge import ForgePlatform
from rulequeue.simulator.forge_events import ForgeSender
from rulequeue.simulator.keys import InstallSigner
from rulequeue.simulator.people import IssueChanges
from rulequeue.simulator.people_links import LinksAndWorklogs
from rulequeue.simulator.redelivery import Delivery, deliver
from rulequeue.simulator.state import Change, SimulatorError, SiteState

User = Mapping[str, Any]


class JiraSimulator(IssueChanges, LinksAndWorklogs):
    """A Jira Cloud site served over real HTTP in the current event loop.

    It installs an app from its descriptor with a signed install, sends the webhooks Jira sends
    when people change issues, and serves the REST calls the app makes, verifying each
    Connect JWT exactly as Jira does and recording it in :attr:`calls`.

    Attributes:
        app_user: The installed app's own Jira user (``accountType`` 'app').
        state: The site's issues, comments and users.
        calls: Every REST call the app made (install-key fetches excluded), rejected ones too.
        faults: Injected failures; see :meth:`fail_next`.
        delay_seconds: How long every REST answer is held back.
        emit_app_events: Whether the app's own changes come back as webhooks, as in real Jira
            (and as Forge events, ``selfGenerated``, once ``forge_events.app_url`` is set).
        connect_property: Whether Jira names the site's Connect clientKey to the Forge app
            (rulequeue.simulator.connect_property); off plays the time after Connect's end.
        last_webhook_body: The body of the last :meth:`send_webhook` delivery.
        last_delivery_id: Its ``X-Atlassian-Webhook-Identifier``.
        webhook_retry_delays: Seconds before each re-delivery of a webhook the app answered
            with a retryable status (none by default: one attempt, as tests expect).
        deliveries: Every webhook sent for a change of an issue, with each attempt's status.
        forge: Forge's side of the site: FIT signing keys and their JWKS, app system tokens.
        forge_events: Forge's deliveries to the app's remote (set ``forge_events.app_url``):
            product events for every change, besides the Connect webhooks if those are installed.
    """

    def __init__(
        self, app_key: str = 'rulequeue', client_key: str | None = None, install_signer: InstallSigner | None = None
    ) -> None:
        """Create a site; nothing is served until :meth:`running`.

        Args:
            app_key: Names the app's Jira user; the installed descriptor's key is what tokens
                must carry as ``iss``.
            client_key: The tenant's clientKey; ``'jira:' + uuid4`` by default.
            install_signer: Share another site's install key: every real site's installs are
                signed by Atlassian's one install-keys service.
        """
        self._signer = install_signer or InstallSigner()
        self._link = ConnectLink(client_key or f'jira:{uuid.uuid4()}', self._signer)
        self.app_user: JsonObject = {
            'accountId': f'557058:{uuid.uuid4()}',
            'accountType': 'app',
            'displayName': app_key,
            'active': True,
        }
        self.state = SiteState(self.app_user)
        self.calls: list[RecordedCall] = []
        self.faults = FaultPlan()
        self.delay_seconds = 0.0
        self.emit_app_events = False
        self.connect_property = True  # the reserved property naming the Connect clientKey (until EoS)
        self.last_webhook_body: JsonObject | None = None
        self.last_delivery_id: str | None = None
        self.webhook_retry_delays: tuple[float, ...] = ()
        self.deliveries: list[Delivery] = []
        self._base_url: str | None = None
        self._http: httpx.AsyncClient | None = None
        self._app_events = AppEventSender(self._link, self._client)
        # Forge's side of the site: FIT signing keys served as JWKS, app system tokens.
        self.forge = ForgePlatform(cloud_id=self._link.cloud_id)  # one site: one cloudId for both
        self.forge_events = ForgeSender(self.forge, self._client)
        self._asgi = build_app(self, self._signer, self.forge)

    # -- the site ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[JiraSimulator]:
        """Serve the site on a free local port until the block exits."""
        if self._base_url is not None:
            raise SimulatorError('the simulator is already running')
        async with serve_in_background(self._asgi) as url, httpx.AsyncClient(timeout=30) as http:
            self._base_url, self._http, self.state.base_url = url, http, url
            try:
                yield self
            finally:
                await self._app_events.cancel()
                self._base_url, self._http = None, None

    @property
    def base_url(self) -> str:
        """The site's baseUrl, e.g. ``http://127.0.0.1:PORT`` (only while running)."""
        if self._base_url is None:
            raise SimulatorError('the simulator is not running: use "async with sim.running()"')
        return self._base_url

    @property
    def install_keys_url(self) -> str:
        """The install-keys service: ``GET {install_keys_url}/{kid}`` gives the PEM public key."""
        return f'{self.base_url}/connect-install-keys'

    @property
    def install_signer(self) -> InstallSigner:
        return self._signer

    @property
    def kid(self) -> str:
        """The ``kid`` of the site's install-signing key."""
        return self._signer.kid

    @property
    def client_key(self) -> str:
        return self._link.client_key

    @property
    def shared_secret(self) -> str | None:
        """The tenant's secret, made at install; None before the first successful install."""
        return self._link.shared_secret

    @property
    def app(self) -> AppRegistration | None:
        """What the site kept from the installed app's descriptor."""
        return self._link.app

    @property
    def licence(self) -> str:
        """The app's licence on this site, sent as ``lic=`` if its descriptor enables licensing."""
        return self._link.licence

    @licence.setter
    def licence(self, value: str) -> None:
        """'active' or 'none' (an expired or cancelled subscription)."""
        self._link.licence = value

    @property
    def app_state(self) -> str:
        """'new', 'installed', 'disabled' or 'uninstalled'."""
        return self._link.state

    @property
    def issues(self) -> dict[str, JsonObject]:
        """Issue key -> the issue as ``GET /rest/api/2/issue/{key}`` returns it."""
        return self.state.issues

    @property
    def comments(self) -> dict[str, list[JsonObject]]:
        """Issue key -> its comments (REST shape plus their ``properties``), oldest first."""
        return self.state.comments

    def add_user(
        self, display_name: str, *, account_id: str | None = None, email_address: str | None = None
    ) -> JsonObject:
        """Add a person to the site (so issues can be assigned to them); returns the user dict."""
        return self.state.add_user(display_name, account_id=account_id, email_address=email_address)

    def fail_next(
        self,
        status: int = 429,
        times: int = 1,
        retry_after: float | None = None,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next ``times`` verified REST calls that match with ``status``.

        Args:
            status: The status to answer with (JSON error body; 429 also has rate-limit headers).
            times: How many matching calls fail.
            retry_after: Seconds for a ``Retry-After`` header (rounded up), none if None.
            method: Only calls with this method match.
            path_contains: Only calls whose raw path contains this match.
        """
        self.faults.add(Fault(status, times, retry_after, method, path_contains))

    # -- Connect ------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise SimulatorError('the simulator is not running: use "async with sim.running()"')
        return self._http

    async def install(self, descriptor_url: str, *, rogue: bool = False, check: bool = True) -> httpx.Response:
        """Install the app from its descriptor: read it, then POST the signed ``installed`` call.

        Args:
            descriptor_url: Where the app serves ``atlassian-connect.json``.
            rogue: Sign with a key the install-keys service does not publish (same kid) and
                offer a fresh secret, as an attacker would; the site's own state is untouched.
            check: Raise SimulatorError unless the app answers 2xx.

        Returns:
            The app's answer to the lifecycle call.
        """
        answer = await self._link.install(self._client(), self.base_url, descriptor_url, rogue=rogue)
        return _checked(answer, 'installed', check)

    async def lifecycle(self, event: str, *, check: bool = True, client_key: str | None = None) -> httpx.Response:
        """Send the ``installed``, ``uninstalled``, ``enabled`` or ``disabled`` lifecycle call.

        Args:
            event: The lifecycle event.
            check: Raise SimulatorError unless the app answers 2xx.
            client_key: Sign the token with this ``iss`` instead of the site's clientKey (the
                body keeps the real one): a forgery the app must refuse; the state is unchanged.
        """
        answer = await self._link.lifecycle(self._client(), self.base_url, event, issuer=client_key)
        return _checked(answer, event, check)

    def sign_request(self, method: str, url: str, *, account_id: str | None = None) -> str:
        """A tenant token (``iss`` = clientKey) for one request to the app, as Jira signs app pages.

        ``url`` is the full URL; the ``qsh`` covers its path relative to the app's baseUrl path
        and its query. ``account_id`` adds a ``sub`` claim.
        """
        return self._link.sign_request(method, url, account_id=account_id)

    def context_token(self, account_id: str) -> str:
        """A ``context-qsh`` token as ``AP.context.getToken()`` gives the app's pages."""
        return self._link.context_token(account_id)

    async def send_webhook(
        self,
        body: Mapping[str, Any],
        *,
        delivery_id: str | None = None,
        retry: int | None = None,
        token: str | None = None,
        headers: Mapping[str, str | None] | None = None,
        raw_body: bytes | None = None,
    ) -> httpx.Response:
        """POST one delivery to the URL registered for ``body['webhookEvent']``.

        Args:
            body: The webhook body (also what is sent unless ``raw_body`` is given).
            delivery_id: ``X-Atlassian-Webhook-Identifier``; a fresh UUID if None.
            retry: ``X-Atlassian-Webhook-Retry``; the header is absent if None.
            token: The JWT to send; a valid one for this request if None.
            headers: Extra headers; a value of None removes that header.
            raw_body: Exact bytes to send instead of ``body`` as JSON.
        """
        delivery = delivery_id or str(uuid.uuid4())
        self.last_webhook_body, self.last_delivery_id = copy.deepcopy(dict(body)), delivery
        return await self._link.send_webhook(
            self._client(), body, delivery_id=delivery, retry=retry, token=token, headers=headers, raw_body=raw_body
        )

    async def _deliver(self, change: Change, user: User) -> list[httpx.Response]:
        """Send Forge's events (if a remote is registered), then the registered Connect webhooks."""
        changelog.record(self.state, change, user)
        forge = await self.forge_events.send_change(change, self.state.actor(user))
        app = self._link.app
        if app is None or self._link.shared_secret is None:
            return forge
        answers = []
        for body in events.bodies_for(change, self.state.actor(user)):
            if app.webhook_url(body['webhookEvent']) is None:
                continue
            delivery = Delivery(str(uuid.uuid4()), body)
            self.deliveries.append(delivery)
            answer = await deliver(self._send_attempt, delivery, self.webhook_retry_delays)
            if answer is not None:
                answers.append(answer)
        return answers + forge

    async def redeliver(self, delivery: Delivery) -> httpx.Response | None:
        """Send an earlier delivery again, as Jira's at-least-once delivery sometimes does."""
        repeat = Delivery(delivery.delivery_id, delivery.body)
        answer = await deliver(self._send_attempt, repeat, self.webhook_retry_delays)
        delivery.statuses.extend(repeat.statuses)
        return answer

    async def _send_attempt(self, body: JsonObject, delivery_id: str, retry: int | None) -> httpx.Response:
        return await self.send_webhook(body, delivery_id=delivery_id, retry=retry)

    # -- what the REST server needs (see app.Server) ------------------------------------------

    def rest_credentials(self) -> tuple[str, str]:
        """``(app key, shared secret)`` the app's calls verify with; Unauthorized if it may not call."""
        return self._link.rest_credentials()

    def addon_json(self, app_key: str) -> JsonObject | None:
        return self._link.addon_json(app_key)

    def connect_client_key(self, app_key: str) -> str | None:
        installed = self._link.addon_json(app_key) is not None
        return self._link.client_key if installed and self.connect_property else None

    def app_changed(self, change: Change) -> None:
        """Send the webhooks for the app's own change in the background, if enabled; Forge's
        events for it too once a remote is registered (rulequeue.simulator.forge_self)."""
        changelog.record(self.state, change, self.app_user)
        if self.emit_app_events and self._link.app is not None:
            self._app_events.schedule(events.bodies_for(change, self.state.actor(self.app_user)))
        if self.emit_app_events and self.forge_events.app_url is not None:
            own = forge_self.self_events(change, self.app_user, forge_self.current())
            self._app_events.schedule_forge(self.forge_events, own)

    @property
    def app_event_responses(self) -> list[httpx.Response]:
        """The app's answers to webhooks about its own changes."""
        return self._app_events.responses

    @property
    def app_event_errors(self) -> list[Exception]:
        """Transport errors while sending those webhooks."""
        return self._app_events.errors

    async def wait_for_app_events(self, seconds: float = 10.0) -> None:
        """Wait until every webhook about the app's own changes was answered (at most ``seconds``)."""
        await self._app_events.wait(seconds)


def _checked(answer: httpx.Response, event: str, check: bool) -> httpx.Response:
    if check and not answer.is_success:
        raise SimulatorError(f'the app answered {answer.status_code} to the {event} call: {answer.text[:300]}')
    return answer
