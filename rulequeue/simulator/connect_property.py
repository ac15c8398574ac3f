"""The reserved app property that names a site's Connect clientKey to its Forge app (FORGE.md 5.2):
``GET /rest/atlassian-connect/1/addons/{appKey}/properties/connect_client_key_019cdff3-…``.

Served while the site has the Connect app installed and :attr:`JiraSimulator.connect_property`
is on (Jira answers it until Connect's end of support; turn it off to play the time after).
"""

from __future__ import annotations

import re
from typing import Any

from rulequeue.forge.connect_alias import PROPERTY_KEY
from rulequeue.simulator.rest import Answer, Handler, Host, errors


def addon_property(host: Host, params: dict[str, str], body: Any) -> Answer:
    client_key = host.connect_client_key(params['app_key'])
    if params['property'] != PROPERTY_KEY or client_key is None:
        return 404, errors(f"Property with key '{params['property']}' does not exist.")
    return 200, {'key': PROPERTY_KEY, 'value': client_key}


ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
    (
        re.compile(r'/rest/atlassian-connect/1/addons/(?P<app_key>[^/]+)/properties/(?P<property>[^/]+)'),
        {'GET': addon_property},
    ),
)
