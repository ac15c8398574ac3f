"""The Connect clientKey of a Forge installation's site, read from Atlassian's reserved app property
(FORGE.md 5.2, conformance case 35).

Until Connect's end of support, Jira answers
``GET {apiBaseUrl}/rest/atlassian-connect/1/addons/{appKey}/properties/<reserved key>`` to the app's
system token with the site's Connect clientKey: the one sure link between a Forge installation
and the Connect tenant of the same site, even when that tenant never told us its cloudId
(older installs). Asked once, for an installation not yet linked. Anything but a clear answer
(404 once Connect is gone, 401, a timeout, an odd body) is "unknown", and the site is matched by
cloudId instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from rulequeue.forge.fit import ForgeContext

PROPERTY_KEY = 'connect_client_key_019cdff3-8bfb-71fe-9628-875b700aebb8'
TIMEOUT_SECONDS = 2.0  # inside Forge's 5-second budget for the call that asks
MAX_CLIENT_KEY_LENGTH = 255


async def connect_client_key(http: httpx.AsyncClient, ctx: ForgeContext, app_key: str) -> str | None:
    """The site's Connect clientKey as Jira states it, or None when it cannot be told."""
    if ctx.system_token is None:
        return None
    url = f'{ctx.api_base_url}/rest/atlassian-connect/1/addons/{quote(app_key, safe="")}/properties/{PROPERTY_KEY}'
    headers = {'Authorization': f'Bearer {ctx.system_token.get_secret_value()}', 'Accept': 'application/json'}
    try:
        response = await http.get(url, headers=headers, timeout=TIMEOUT_SECONDS, follow_redirects=False)
        body: Any = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    value = body.get('value') if isinstance(body, dict) else None
    if isinstance(value, dict):  # the documented shape is a bare string; tolerate {"clientKey": ...}
        value = value.get('clientKey')
    if isinstance(value, str) and 0 < len(value) <= MAX_CLIENT_KEY_LENGTH:
        return value
    return None
