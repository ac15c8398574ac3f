"""The simulated site's REST API as a Forge remote calls it: ``/ex/jira/<cloudId>/rest/...``.

A remote calls ``{apiBaseUrl}/rest/api/...`` with ``Authorization: Bearer <app system token>``
(FORGE.md 3.4), where ``apiBaseUrl`` is ``https://api.atlassian.com/ex/jira/<cloudId>``; in
tests the FITs carry the simulator's URL instead (``ForgePlatform.api_base_override``). The
token must be one this site's Forge minted and unexpired, and the cloudId this site's, else
401 as the API gateway answers. The resources, faults and recording are the Connect API's
(:class:`~rulequeue.simulator.app.RestEndpoint`); recorded calls have ``auth`` 'forge'.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from rulequeue.errors import Unauthorized
from rulequeue.simulator.app import RestEndpoint, Server
from rulequeue.simulator.forge import ForgePlatform

PREFIX = '/ex/jira/'
_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']


def bearer_token(request: Request) -> str:
    scheme, _, value = request.headers.get('authorization', '').partition(' ')
    if scheme.lower() != 'bearer' or not value.strip():
        raise Unauthorized('no Bearer token in the Authorization header')
    return value.strip()


class ForgeRestEndpoint(RestEndpoint):
    """Jira REST behind app system tokens, for this site's cloudId only."""

    auth = 'forge'

    def __init__(self, server: Server, forge: ForgePlatform) -> None:
        super().__init__(server)
        self._forge = forge

    def authenticate(self, request: Request, path: str, query: str) -> dict[str, Any]:
        token = bearer_token(request)
        if not self._forge.system_token_valid(token):
            raise Unauthorized('the token is not a valid app token (unknown, revoked or expired)')
        if request.path_params.get('cloud_id') != self._forge.cloud_id:
            raise Unauthorized('the token is not valid for this site')
        return self._forge.system_token_claims(token)

    def resource(self, path: str) -> str:
        """``/ex/jira/<cloudId>/rest/api/2/...`` -> ``/rest/api/2/...``."""
        if not path.startswith(PREFIX):
            return path
        _, _, rest = path[len(PREFIX) :].partition('/')
        return '/' + rest


def forge_rest_routes(server: Server, forge: ForgePlatform) -> list[Route]:
    return [Route(PREFIX + '{cloud_id}/{path:path}', ForgeRestEndpoint(server, forge).handle, methods=_METHODS)]
