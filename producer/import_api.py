"""``POST /api/rules/import``: rules exported from Automation for Jira, mapped and stored.

Thin: authenticate, cap and parse the body, call rulequeue.a4j_import, answer with its report.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from producer.auth import authenticate_admin
from producer.http import check_json_content_type, parse_json_object, read_body
from producer.routes import deps_of
from rulequeue.a4j_import import import_export
from rulequeue.errors import BadRequest

# An export of a whole site's rules is far larger than one rule (RULE_BODY_LIMIT, 256 KiB).
IMPORT_BODY_LIMIT = 4 * 1024 * 1024


def _flag(request: Request, name: str) -> bool:
    text = request.query_params.get(name, 'false').lower()
    if text not in ('true', 'false'):
        raise BadRequest(f'{name} must be true or false')
    return text == 'true'


async def import_rules(request: Request) -> Response:
    """``?dry_run=true`` maps and reports without storing; ``?allow_partial=true`` see the module."""
    deps = deps_of(request)
    tenant, _ = await authenticate_admin(deps, request)
    dry_run, allow_partial = _flag(request, 'dry_run'), _flag(request, 'allow_partial')
    check_json_content_type(request)
    data = parse_json_object(await read_body(request, IMPORT_BODY_LIMIT, deps.settings.body_read_timeout_seconds))
    report = await import_export(
        deps.pool,
        tenant.client_key,
        data,
        dry_run=dry_run,
        allow_partial=allow_partial,
        max_components=deps.settings.max_rule_components,
    )
    return JSONResponse(report.model_dump(mode='json'))
