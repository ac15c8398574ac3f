"""The Connect query string hash (``qsh``), built from the raw request as sent or received.

The rules are in shared/CONNECT.md section 4; Atlassian's interoperability vectors are
unit tests. Work from the raw path and query string: parsed dictionaries drop repeated
parameters and lose the distinction between ``+`` and ``%2B``.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote, unquote, unquote_plus

CONTEXT_QSH = 'context-qsh'
_SAFE = '-._~'


def canonical_path(path: str, base_path: str = '') -> str:
    """The decoded path relative to ``base_path``, with Connect's normalisation."""
    path = unquote(path)
    base = base_path.rstrip('/')
    if base and (path == base or path.startswith(base + '/')):
        path = path[len(base) :]
    if not path.startswith('/'):
        path = '/' + path
    if len(path) > 1 and path.endswith('/'):
        path = path[:-1]
    return path.replace('&', '%26')


def _encode(value: str) -> str:
    return quote(value, safe=_SAFE)


def canonical_query(raw_query: str) -> str:
    """Sorted, re-encoded query parameters without ``jwt``; empty string for no query."""
    params: dict[str, list[str]] = {}
    for pair in raw_query.split('&'):
        if not pair:
            continue
        name, _, value = pair.partition('=')
        decoded_name = unquote_plus(name)
        if decoded_name == 'jwt':
            continue
        params.setdefault(decoded_name, []).append(unquote_plus(value))
    encoded = sorted((_encode(name), values) for name, values in params.items())
    return '&'.join(name + '=' + ','.join(_encode(v) for v in sorted(values)) for name, values in encoded)


def canonical_request(method: str, path: str, raw_query: str = '', base_path: str = '') -> str:
    return f'{method.upper()}&{canonical_path(path, base_path)}&{canonical_query(raw_query)}'


def query_hash(method: str, path: str, raw_query: str = '', base_path: str = '') -> str:
    """``qsh`` of a request: lower-case hex SHA-256 of its canonical form."""
    canonical = canonical_request(method, path, raw_query, base_path)
    return hashlib.sha256(canonical.encode()).hexdigest()
