"""Jira's side of Atlassian Connect: reading the descriptor, signed lifecycle calls, signed webhooks.

Shapes and claims follow shared/CONNECT.md: lifecycle calls are RS256 install tokens (``kid``,
``aud`` = the app's baseUrl, ``iss`` = clientKey); webhooks and app-page requests are HS256
tenant tokens with the shared secret (``iss`` = clientKey). Every ``qsh`` hashes the path
relative to the app's baseUrl path.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from rulequeue.connect.qsh import query_hash
from rulequeue.connect.tokens import sign_context_token, sign_tenant_request
from rulequeue.errors import Unauthorized
from rulequeue.simulator.keys import InstallSigner
from rulequeue.simulator.state import SimulatorError

LIFECYCLE_EVENTS = ('installed', 'uninstalled', 'enabled', 'disabled')
# Jira-issued tokens live three minutes (CONNECT.md section 4).
TOKEN_LIFETIME_SECONDS = 180
_STATE_AFTER = {'installed': 'installed', 'enabled': 'installed', 'disabled': 'disabled', 'uninstalled': 'uninstalled'}


def _strings(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SimulatorError(f'descriptor {what} must map names to URL strings')
    return dict(value)


@dataclass(frozen=True)
class AppRegistration:
    """What Jira keeps from an app descriptor: its key, base URL, lifecycle URLs and webhooks."""

    key: str
    name: str
    base_url: str
    lifecycle: Mapping[str, str]
    webhooks: tuple[tuple[str, str], ...]  # (event, url) in descriptor order
    licensing: bool = False  # enableLicensing: Jira appends lic=active|none to its requests

    @classmethod
    def from_descriptor(cls, descriptor: Any) -> AppRegistration:
        if not isinstance(descriptor, dict):
            raise SimulatorError('the descriptor is not a JSON object')
        key, base_url = descriptor.get('key'), descriptor.get('baseUrl')
        if not isinstance(key, str) or not key:
            raise SimulatorError('the descriptor has no key')
        if not isinstance(base_url, str) or not base_url.startswith(('http://', 'https://')):
            raise SimulatorError('the descriptor has no http(s) baseUrl')
        modules = descriptor.get('modules') or {}
        hooks = modules.get('webhooks', []) if isinstance(modules, dict) else None
        if not isinstance(hooks, list):
            raise SimulatorError('descriptor modules.webhooks must be a list')
        webhooks = []
        for hook in hooks:
            if (
                not isinstance(hook, dict)
                or not isinstance(hook.get('event'), str)
                or not isinstance(hook.get('url'), str)
            ):
                raise SimulatorError('each webhook module needs an event and a url')
            webhooks.append((hook['event'], hook['url']))
        return cls(
            key=key,
            name=str(descriptor.get('name') or key),
            base_url=base_url.rstrip('/'),
            lifecycle=_strings(descriptor.get('lifecycle', {}), 'lifecycle'),
            webhooks=tuple(webhooks),
            licensing=descriptor.get('enableLicensing') is True,
        )

    @property
    def base_path(self) -> str:
        return urlsplit(self.base_url).path

    def url(self, relative: str) -> str:
        """An absolute URL for a descriptor URL (relative ones hang off baseUrl)."""
        if relative.startswith(('http://', 'https://')):
            return relative
        return self.base_url + '/' + relative.lstrip('/')

    def webhook_url(self, event: str) -> str | None:
        """Where Jira posts ``event`` (the first registration for it), or None if not registered."""
        return next((self.url(url) for name, url in self.webhooks if name == event), None)


class ConnectLink:
    """One tenant's Connect relationship with one app, seen from Jira."""

    def __init__(self, client_key: str, signer: InstallSigner) -> None:
        self.client_key = client_key
        self.signer = signer
        self.shared_secret: str | None = None
        self.app: AppRegistration | None = None
        self.state = 'new'  # then 'installed', 'disabled' or 'uninstalled'
        self.cloud_id = str(uuid.uuid4())
        self.entitlement_number = f'SEN-{secrets.randbelow(10**8):08d}'
        self.licence = 'active'  # sent as lic= to an app whose descriptor enables licensing

    def require_app(self) -> AppRegistration:
        if self.app is None:
            raise SimulatorError('no app is installed: call install() first')
        return self.app

    def require_secret(self) -> str:
        if self.shared_secret is None:
            raise SimulatorError('the app was never installed, so there is no shared secret')
        return self.shared_secret

    async def install(
        self, http: httpx.AsyncClient, site_url: str, descriptor_url: str, *, rogue: bool
    ) -> httpx.Response:
        """Read the descriptor and send ``installed``; the secret is kept only if the app took it.

        A rogue install is signed by a key the install-keys service does not publish and offers
        a secret of its own; whatever the app answers, this site's registration is untouched.
        """
        fetched = await http.get(descriptor_url)
        if fetched.status_code != 200:
            raise SimulatorError(f'the descriptor answered {fetched.status_code}')
        try:
            app = AppRegistration.from_descriptor(fetched.json())
        except ValueError:
            raise SimulatorError('the descriptor is not JSON') from None
        secret = secrets.token_urlsafe(32)
        answer = await self._post_lifecycle(http, site_url, app, 'installed', secret, self.client_key, rogue=rogue)
        if answer.is_success and not rogue:
            self.app, self.shared_secret, self.state = app, secret, 'installed'
        return answer

    async def lifecycle(
        self, http: httpx.AsyncClient, site_url: str, event: str, *, issuer: str | None
    ) -> httpx.Response:
        """Send a lifecycle call with the current secret; ``issuer`` forges the token's ``iss``."""
        if event not in LIFECYCLE_EVENTS:
            raise SimulatorError(f'unknown lifecycle event {event!r}')
        app = self.require_app()
        forged = issuer is not None and issuer != self.client_key
        answer = await self._post_lifecycle(
            http, site_url, app, event, self.require_secret(), issuer or self.client_key, rogue=False
        )
        # Jira changes the app's state whatever the app answers; a forged call changes nothing.
        if not forged:
            self.state = _STATE_AFTER[event]
        return answer

    def rest_credentials(self) -> tuple[str, str]:
        """``(app key, shared secret)`` for verifying the app's REST calls; Unauthorized if refused."""
        if self.app is None or self.shared_secret is None or self.state in ('new', 'uninstalled'):
            raise Unauthorized('the app is not installed on this site')
        if self.state == 'disabled':
            # A disabled app's user is deactivated: Jira refuses its calls.
            raise Unauthorized('the app is disabled on this site')
        return self.app.key, self.shared_secret

    def addon_json(self, app_key: str) -> dict[str, Any] | None:
        """The app's entry in ``/rest/atlassian-connect/1/addons/{appKey}`` (None: not installed)."""
        if self.app is None or self.app.key != app_key or self.state in ('new', 'uninstalled'):
            return None
        return {
            'key': self.app.key,
            'version': '1.0.0-AC',
            'state': 'ENABLED' if self.state == 'installed' else 'DISABLED',
            'host': {'product': 'jira', 'contacts': []},
            'license': {
                'active': True,
                'type': 'COMMERCIAL',
                'evaluation': False,
                'supportEntitlementNumber': self.entitlement_number,
            },
        }

    def lifecycle_body(self, site_url: str, app: AppRegistration, event: str, secret: str) -> dict[str, Any]:
        return {
            'key': app.key,
            'clientKey': self.client_key,
            'sharedSecret': secret,
            'baseUrl': site_url,
            'displayUrl': site_url,
            'productType': 'jira',
            'description': f'Atlassian JIRA at {site_url}',
            'serviceEntitlementNumber': self.entitlement_number,
            'eventType': event,
            'cloudId': self.cloud_id,
            'publicKey': self.signer.public_key_base64,
            'serverVersion': '100277',
            'pluginsVersion': '1001.0.0-SNAPSHOT',
        }

    async def _post_lifecycle(
        self,
        http: httpx.AsyncClient,
        site_url: str,
        app: AppRegistration,
        event: str,
        secret: str,
        issuer: str,
        *,
        rogue: bool,
    ) -> httpx.Response:
        relative = app.lifecycle.get(event)
        if relative is None:
            raise SimulatorError(f'the descriptor registers no {event} lifecycle URL')
        url = app.url(relative)
        target = urlsplit(url)
        now = int(time.time())
        claims = {
            'iss': issuer,
            'aud': app.base_url,
            'iat': now,
            'exp': now + TOKEN_LIFETIME_SECONDS,
            'qsh': query_hash('POST', target.path, target.query, app.base_path),
        }
        headers = {'Authorization': f'JWT {self.signer.sign(claims, rogue=rogue)}', 'Content-Type': 'application/json'}
        content = json.dumps(self.lifecycle_body(site_url, app, event, secret)).encode()
        return await http.post(url, content=content, headers=headers)

    def sign_request(self, method: str, url: str, *, account_id: str | None = None) -> str:
        """A tenant token for one request to the app, ``qsh`` relative to the app's base path."""
        app = self.require_app()
        target = urlsplit(url)
        return sign_tenant_request(
            method=method,
            path=target.path,
            raw_query=target.query,
            secret=self.require_secret(),
            issuer=self.client_key,
            base_path=app.base_path,
            lifetime=TOKEN_LIFETIME_SECONDS,
            extra_claims={'sub': account_id} if account_id else None,
        )

    def context_token(self, account_id: str) -> str:
        return sign_context_token(secret=self.require_secret(), issuer=self.client_key, subject=account_id)

    async def send_webhook(
        self,
        http: httpx.AsyncClient,
        body: Mapping[str, Any],
        *,
        delivery_id: str,
        retry: int | None,
        token: str | None,
        headers: Mapping[str, str | None] | None,
        raw_body: bytes | None,
    ) -> httpx.Response:
        """POST one delivery exactly as Jira does; ``headers`` values of None drop a header."""
        event = body.get('webhookEvent')
        app = self.require_app()
        url = app.webhook_url(event) if isinstance(event, str) else None
        if url is None:
            raise SimulatorError(f'the descriptor registers no webhook for {event!r}')
        if app.licensing:
            url += ('&' if '?' in url else '?') + f'lic={self.licence}'
        sent = httpx.Headers(
            {
                'Authorization': f'JWT {token if token is not None else self.sign_request("POST", url)}',
                'Content-Type': 'application/json',
                'User-Agent': 'Atlassian Webhook HTTP Client',
                'X-Atlassian-Webhook-Identifier': delivery_id,
            }
        )
        if retry is not None:
            sent['X-Atlassian-Webhook-Retry'] = str(retry)
        for name, value in (headers or {}).items():
            if value is None:
                if name in sent:
                    del sent[name]
            else:
                sent[name] = value
        content = raw_body if raw_body is not None else json.dumps(body, separators=(',', ':')).encode()
        return await http.post(url, content=content, headers=sent)
