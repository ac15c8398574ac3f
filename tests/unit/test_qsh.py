"""The Connect query string hash against Atlassian's interoperability vectors (CONNECT.md §4)."""

from __future__ import annotations

import pytest

from rulequeue.connect.qsh import canonical_path, canonical_request, query_hash

VECTORS = [
    ('param=value', 'param=value', 'be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd'),
    (
        'param=some+spaces+in+this+parameter',
        'param=some%20spaces%20in%20this%20parameter',
        'ef4097d05395eaf1a133956f140116a9c411afad768d4f06daac9e305764265d',
    ),
    ('query=connect*', 'query=connect%2A', '0d28bc10d1972d9cab59e123ce17976eb32aad6957a13cfb8b97ced6d3fc8a29'),
    (
        'director=%E5%AE%AE%E5%B4%8E+%E9%A7%BF',
        'director=%E5%AE%AE%E5%B4%8E%20%E9%A7%BF',
        '44d6354ffe8f963972a7fc59e98b2c3dfe4b493295c5b89edd974a339e61ac89',
    ),
    ('ids=10%2C2%2C20%2C1', 'ids=10%2C2%2C20%2C1', '2e617b65f966650789990e5cac8ff295ee5b453834d04798f466ff6035bd8829'),
    (
        'tuples=1%2C2%2C3&tuples=6%2C5%2C4&tuples=7%2C9%2C8',
        'tuples=1%2C2%2C3,6%2C5%2C4,7%2C9%2C8',
        'f9f62bb61191dff1b219e9ade8ac38fcfa46272ea76d9545410db6559fd8e7bd',
    ),
    (
        'title=1+%2B+1+equals+3',
        'title=1%20%2B%201%20equals%203',
        'ce0a866ce0c34cbde70deb63f6915192f58500d2b49b12e1ffc8cdf91edabc91',
    ),
    (
        'json=%7B%22key%22%3A%22value%22%7D',
        'json=%7B%22key%22%3A%22value%22%7D',
        '1d74c5a1f0a6c72a3ce285570cbfd8fe736910123e6ada203d4c7ba9a6128a6f',
    ),
    (
        'json=%5B%22val1%22%2C%22val2%22%5D',
        'json=%5B%22val1%22%2C%22val2%22%5D',
        '5a69d35f16534290a4ed2f9e53a45e6872cf0c3a1163295c42947d42931a1f73',
    ),
    ('quote=%27quoted%27', 'quote=%27quoted%27', '207a30376c594d5cde7b6e873b943f84798371d3293b7eac27e2c2a2a5d111d5'),
    ('param=%28%29', 'param=%28%29', '46b9787a8983560f446f82d6143122d99e153affd5688fa45343074a091573eb'),
    ('eta=in+%7E3+days', 'eta=in%20~3%20days', '5c5f97cdfe3abd8feb48f6f0240a71ef5c111289a5bf77ddf645250b3951ec63'),
    (
        'rfc=+%3C%3E%22%23%25%7B%7D%7C%5C%5E%7E%5B%5D%60',
        'rfc=%20%3C%3E%22%23%25%7B%7D%7C%5C%5E~%5B%5D%60',
        '36ba39c5379d752bbef1349ba58df98ecaa456b78c7c2e3245e2f33eac712a49',
    ),
    (
        'rfc=%3B%2F%3F%3A%40%3D%26',
        'rfc=%3B%2F%3F%3A%40%3D%26',
        '639330bc92d79373b198da697873b2f03f1a3a0c5af78cf8eea517f14960b150',
    ),
    (
        'rfc=%24-_.%2B%21*%27%28%29%2C',
        'rfc=%24-_.%2B%21%2A%27%28%29%2C',
        '0e36229cc459ff8ccb4845c11433cfbbe25bfa45e8c1ea14d2a124231cb0a2e9',
    ),
    ('rfc=-._%7E', 'rfc=-._~', '0ddf7e631c3b11e7975814ee84fec26804dc72b0a0e997871d8415cee6b78b31'),
    (
        'rfc=%3A%2F%3F%23%5B%5D%40',
        'rfc=%3A%2F%3F%23%5B%5D%40',
        '96041ee45ad4b8ea29bce42f3e2835490591f55e84bddbbab82151d4a1ac1a11',
    ),
    (
        'rfc=%21%24%26%27%28%29*%2B%2C%3B%3D',
        'rfc=%21%24%26%27%28%29%2A%2B%2C%3B%3D',
        'b8d049874f1fe5abe274d20bdecebee8daada453191a827738eebcd759efd4e1',
    ),
    ('notmuch=', 'notmuch=', '20fecded9951516a3447b1b556d0eb350de29770505253a30dc739502e05ddc7'),
    (
        'referrer=http%3A%2F%2Ffrom.net%2Fp%3Fx%3DA%2B%252B%2BB%26y%3D%2524-_.%252B%2521*%2527%2528%2529%252C',
        'referrer=http%3A%2F%2Ffrom.net%2Fp%3Fx%3DA%2B%252B%2BB%26y%3D%2524-_.%252B%2521%2A%2527%2528%2529%252C',
        '7ca81b8e4e83c2375eea7b8b50bd3786ba8b43261193a3bd3ccdfca06120ee33',
    ),
]


@pytest.mark.parametrize(('raw_query', 'canonical_query', 'qsh'), VECTORS)
def test_atlassian_vectors(raw_query: str, canonical_query: str, qsh: str) -> None:
    assert canonical_request('GET', '/test', raw_query) == f'GET&/test&{canonical_query}'
    assert query_hash('GET', '/test', raw_query) == qsh


def test_jwt_parameter_is_dropped_and_order_does_not_matter() -> None:
    assert canonical_request('get', '/test', 'b=2&jwt=abc&a=1') == 'GET&/test&a=1&b=2'


def test_no_query_still_ends_with_ampersand() -> None:
    assert canonical_request('POST', '/installed', '') == 'POST&/installed&'


@pytest.mark.parametrize(
    ('path', 'base', 'expected'),
    [
        ('/base/test', '/base', '/test'),
        ('/base', '/base', '/'),
        ('/basement/x', '/base', '/basement/x'),
        ('', '', '/'),
        ('/a/b/', '', '/a/b'),
        ('/a&b', '', '/a%26b'),
        ('/rest/api/2/issue/PROJ-1', '', '/rest/api/2/issue/PROJ-1'),
        ('/x%20y', '', '/x y'),
    ],
)
def test_canonical_path(path: str, base: str, expected: str) -> None:
    assert canonical_path(path, base) == expected
