"""The operators' page: ``GET /ops`` (one static HTML page) and ``GET /ops/data`` (the JSON it polls).

Protected by ``OPS_TOKEN``: scripts send ``Authorization: Bearer <token>``; a browser opens
``/ops?token=<token>`` once, which sets an HttpOnly cookie and redirects to ``/ops`` so the token
leaves the address bar and the history. Without ``OPS_TOKEN`` the page does not exist (404).
Failed attempts spend the client address's budget of failed authentications, like bad webhook
tokens do.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from producer import ratelimit
from producer.deps import Deps
from producer.ops_data import OpsHistory, ops_data
from rulequeue import constants
from rulequeue.errors import NotFound, Unauthorized

PAGE = Path(__file__).with_name('ops.html')


@functools.cache
def _page() -> tuple[bytes, str]:
    """The page and its Content-Security-Policy: only its own inline script may run."""
    html = PAGE.read_text()
    scripts = re.findall(r'<script>(.*?)</script>', html, flags=re.DOTALL)
    hashes = ' '.join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts
    )
    policy = (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return html.encode(), policy


def _cookie_value(token: str) -> str:
    # A digest of the token, not the token: the cookie cannot be replayed as a bearer token.
    return hmac.new(token.encode(), b'rulequeue ops cookie', hashlib.sha256).hexdigest()


def _same(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def _operator(deps: Deps) -> str:
    """The configured token; raises NotFound when there is none."""
    token = deps.settings.ops_token
    if token is None:
        raise NotFound('not found')
    return token.get_secret_value()


async def _authorize(request: Request, deps: Deps) -> None:
    token = _operator(deps)
    scheme, _, credentials = request.headers.get('authorization', '').partition(' ')
    if _same(credentials if scheme.lower() == 'bearer' else None, token):
        return
    if _same(request.cookies.get(constants.OPS_COOKIE), _cookie_value(token)):
        return
    await _refuse(request, deps)


async def _refuse(request: Request, deps: Deps) -> None:
    ip = request.client.host if request.client else None
    await ratelimit.count_ip_failure(deps.redis, ip, deps.settings.rate_limit_failures_per_ip_per_minute)
    raise Unauthorized('operator token required')


def _security_headers(response: Response) -> Response:
    response.headers['Cache-Control'] = 'no-store'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    response.headers['Referrer-Policy'] = 'no-referrer'
    return response


async def page(request: Request) -> Response:
    deps: Deps = request.state.deps
    query_token = request.query_params.get('token')
    if query_token is not None:
        token = _operator(deps)
        if not _same(query_token, token):
            await _refuse(request, deps)
        response: Response = RedirectResponse(request.url.remove_query_params('token'), status_code=303)
        response.set_cookie(
            constants.OPS_COOKIE,
            _cookie_value(token),
            max_age=constants.OPS_COOKIE_MAX_AGE_SECONDS,
            path=request.url.path,
            httponly=True,
            secure=deps.settings.app_base_url.startswith('https://'),
            samesite='strict',
        )
        return _security_headers(response)
    await _authorize(request, deps)
    html, policy = _page()
    response = HTMLResponse(html)
    response.headers['Content-Security-Policy'] = policy
    return _security_headers(response)


async def data(request: Request) -> Response:
    deps: Deps = request.state.deps
    await _authorize(request, deps)
    history: OpsHistory = request.state.ops_history
    body = await ops_data(deps.redis, deps.pool, history, now=datetime.now(UTC))
    return _security_headers(JSONResponse(body))
