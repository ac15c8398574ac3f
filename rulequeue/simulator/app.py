"""The simulated site's HTTP server: the install-keys service and the REST API behind Connect JWTs.

Every REST call is verified as Jira verifies an app's calls (HS256 with the installed shared
secret, ``iss`` = the app key, a lifetime of at most an hour, ``qsh`` of the request as
received), recorded, and only then answered: first with an injected fault if one matches,
else by the resource. Rejected calls are recorded too, so tests can assert on them.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rulequeue.connect import tokens
from rulequeue.errors import Unauthorized
from rulequeue.simulator import forge_self
from rulequeue.simulator.calls import FaultPlan, RecordedCall, fault_body, fault_headers
from rulequeue.simulator.forge import ForgePlatform
from rulequeue.simulator.keys import InstallSigner
from rulequeue.simulator.rest import Host, dispatch, errors

MAX_TOKEN_LIFETIME_SECONDS = 3600
_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']


class Server(Host, Protocol):
    """The simulator as its HTTP server sees it."""

    @property
    def calls(self) -> list[RecordedCall]: ...

    @property
    def faults(self) -> FaultPlan: ...

    @property
    def delay_seconds(self) -> float: ...

    def rest_credentials(self) -> tuple[str, str] | None:
        """``(app key, shared secret)`` while the app is installed, else None."""


def _token(request: Request, raw_query: str) -> str:
    header = request.headers.get('authorization', '')
    scheme, _, value = header.partition(' ')
    if scheme == 'JWT' and value.strip():
        return value.strip()
    for name, param in parse_qsl(raw_query, keep_blank_values=True):
        if name == 'jwt' and param:
            return param
    raise Unauthorized('no JWT in the Authorization header or the jwt query parameter')


def authenticate(server: Server, request: Request, path: str, raw_query: str) -> dict[str, Any]:
    """The verified claims of the app's token; Unauthorized naming the check that failed."""
    token = _token(request, raw_query)
    credentials = server.rest_credentials()
    if credentials is None:
        raise Unauthorized('the app is not installed on this site')
    app_key, secret = credentials
    # Jira finds the app by iss before it can know which secret to verify with.
    if tokens.unverified_issuer(token) != app_key:
        raise Unauthorized('token issuer is not the installed app')
    claims = tokens.verify_tenant_token(
        token, secret, method=request.method, path=path, raw_query=raw_query, base_path='', allow_context_qsh=False
    )
    if float(claims['exp']) - float(claims['iat']) > MAX_TOKEN_LIFETIME_SECONDS:
        raise Unauthorized('token lifetime exceeds one hour')
    return claims


def _parse(body: bytes) -> tuple[Any, bool]:
    """The JSON body and whether it parsed (an empty body is None and fine)."""
    if not body:
        return None, True
    try:
        return json.loads(body), True
    except ValueError:
        return None, False


def _respond(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    if payload is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(payload, status_code=status, headers=headers)


class RestEndpoint:
    """The catch-all ASGI endpoint that serves (and records) every REST call."""

    auth = 'connect'  # how callers authenticate; see simulator.forge_rest for the other

    def __init__(self, server: Server) -> None:
        self._server = server

    def authenticate(self, request: Request, path: str, query: str) -> dict[str, Any]:
        return authenticate(self._server, request, path, query)

    def resource(self, path: str) -> str:
        """The REST resource path that ``path`` (as received) names."""
        return path

    async def handle(self, request: Request) -> Response:
        at = time.time()
        raw = request.scope.get('raw_path') or request.scope['path'].encode()
        path = raw.decode('latin-1')
        query = request.scope.get('query_string', b'').decode('latin-1')
        body, parsed = _parse(await request.body())

        def answer(
            status: int, payload: Any, *, claims: dict[str, Any] | None, error: str | None = None, **headers: str
        ) -> Response:
            record = RecordedCall(
                request.method, path, query, body, status, claims is not None, error, claims, at, self.auth
            )
            self._server.calls.append(record)
            return _respond(status, payload, headers or None)

        if self._server.delay_seconds > 0:
            await asyncio.sleep(self._server.delay_seconds)
        try:
            claims = self.authenticate(request, path, query)
        except Unauthorized as exc:
            payload = errors(f'Authentication failed: {exc.message}')
            challenge = 'Bearer realm="jira"' if self.auth == 'forge' else 'JWT realm="jira"'
            return answer(401, payload, claims=None, error=exc.message, **{'WWW-Authenticate': challenge})
        fault = self._server.faults.take(request.method, path)
        if fault is not None:
            return answer(fault.status, fault_body(fault.status), claims=claims, **fault_headers(fault))
        if not parsed:
            return answer(400, errors('Unexpected character: the body is not JSON.'), claims=claims)
        # The handlers' changes come back as events naming this call (simulator.forge_self).
        with forge_self.serving(forge_self.AppCall(self.auth, request.headers.get(forge_self.TRACE_HEADER))):
            status, payload = dispatch(self._server, request.method, unquote(self.resource(path)), body, query)
        return answer(status, payload, claims=claims)


def build_app(server: Server, signer: InstallSigner, forge: ForgePlatform | None = None) -> Starlette:
    """The site's ASGI app: ``/connect-install-keys/{kid}``, Forge's JWKS and the REST API
    (behind Connect JWTs, and behind Forge app tokens under ``/ex/jira/<cloudId>``)."""
    # Imported here: forge_rest subclasses this module's RestEndpoint.
    from rulequeue.simulator.forge_rest import forge_rest_routes

    return Starlette(
        routes=[
            Route('/connect-install-keys/{kid}', signer.endpoint, methods=['GET']),
            *(forge.routes() if forge is not None else []),
            *(forge_rest_routes(server, forge) if forge is not None else []),
            Route('/{path:path}', RestEndpoint(server).handle, methods=_METHODS),
        ]
    )
