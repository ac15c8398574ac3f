"""Request plumbing shared by the routes: capped bodies, JSON parsing, tokens, responses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rulequeue.errors import BadRequest, PayloadTooLarge, RequestTimeout, Unauthorized, UnsupportedMediaType

MAX_JSON_DEPTH = 64


def check_content_length(request: Request, limit: int) -> None:
    """413 from the declared length alone, before a byte of the body is read."""
    declared = request.headers.get('content-length')
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest('invalid Content-Length')
        if int(declared) > limit:
            raise PayloadTooLarge(f'body over {limit} bytes')


def check_json_content_type(request: Request) -> None:
    """415 unless the body is declared as JSON (Jira sends ``application/json; charset=UTF-8``)."""
    media_type = request.headers.get('content-type', '').split(';', 1)[0].strip().lower()
    if media_type != 'application/json':
        raise UnsupportedMediaType('Content-Type must be application/json')


async def read_body(request: Request, limit: int, read_seconds: float = 10.0) -> bytes:
    """Read at most ``limit`` bytes within ``read_seconds``.

    413 from Content-Length, or as soon as a chunked stream passes the limit; 408 when the
    client trickles its body (slow-loris) past the timeout, so it cannot hold a slot forever.
    """
    check_content_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(read_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f'body over {limit} bytes')
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(f'body not received within {read_seconds:g} s') from None
    return b''.join(chunks)


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could disagree on which duplicate wins; refuse the ambiguity outright.
    data = dict(pairs)
    if len(data) != len(pairs):
        raise BadRequest('body has duplicate JSON keys')
    return data


def parse_json_object(body: bytes) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes, or 400 saying what is wrong.

    Refused: invalid UTF-8, invalid JSON, duplicate keys, integers over Python's 4,300-digit
    limit, non-finite numbers, nesting deeper than MAX_JSON_DEPTH, anything but an object.
    """
    try:
        data = json.loads(body.decode('utf-8'), object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BadRequest('body is not valid UTF-8') from None
    except (ValueError, RecursionError):
        raise BadRequest('body is not valid JSON') from None
    if not isinstance(data, dict):
        raise BadRequest('body must be a JSON object')
    if _depth(data) > MAX_JSON_DEPTH:
        raise BadRequest(f'JSON nested deeper than {MAX_JSON_DEPTH} levels')
    return data


def _no_constant(name: str) -> Any:
    raise BadRequest(f'{name} is not valid JSON')


def connect_token(request: Request) -> str:
    """The Connect JWT from ``Authorization: JWT …`` or the ``jwt`` query parameter."""
    header = request.headers.get('authorization', '')
    scheme, _, token = header.partition(' ')
    if scheme.upper() == 'JWT' and token.strip():
        return token.strip()
    query_token = request.query_params.get('jwt')
    if query_token:
        return query_token
    raise Unauthorized('missing Connect JWT')


def raw_target(request: Request) -> tuple[str, str]:
    """The path and query string exactly as received, for the qsh."""
    raw_path = request.scope.get('raw_path') or request.url.path.encode()
    return raw_path.decode('latin-1'), request.scope.get('query_string', b'').decode('latin-1')


def error(status: int, message: str, **extra: Any) -> Response:
    return JSONResponse({'error': message, **extra}, status_code=status)
