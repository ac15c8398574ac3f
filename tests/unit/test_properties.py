"""Property-based tests (hypothesis) of the qsh canonicalizer, the template renderer and the
rule validator: any input, no crash, no hang, only the documented errors.

`HYPOTHESIS_PROFILE=long` runs many more examples (see the README's security section).
"""

from __future__ import annotations

import contextlib
import random
import re
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rulequeue.connect.qsh import canonical_query, query_hash
from rulequeue.errors import TemplateError
from schemas.rules import Rule
from worker.templates import render

names = st.text(min_size=1, max_size=12).filter(lambda n: n != 'jwt')
values = st.text(max_size=20)
params = st.dictionaries(names, st.lists(values, min_size=1, max_size=3), max_size=6)


def _encode(pairs: list[tuple[str, str]], *, plus_for_space: bool) -> str:
    def enc(text: str) -> str:
        encoded = quote(text, safe='')
        return encoded.replace('%20', '+') if plus_for_space else encoded

    return '&'.join(f'{enc(n)}={enc(v)}' for n, v in pairs)


@given(params, st.randoms())
def test_qsh_ignores_parameter_order_and_space_encoding(data: dict[str, list[str]], rnd: random.Random) -> None:
    pairs = [(n, v) for n, vs in data.items() for v in vs]
    shuffled = pairs[:]
    rnd.shuffle(shuffled)
    a = canonical_query(_encode(pairs, plus_for_space=False))
    b = canonical_query(_encode(shuffled, plus_for_space=True))
    assert a == b
    assert re.fullmatch(r'[A-Za-z0-9\-._~%=&,]*', a)
    assert re.fullmatch(r'[0-9a-f]{64}', query_hash('GET', '/x', _encode(pairs, plus_for_space=False)))


@given(params, values)
def test_qsh_drops_the_jwt_parameter(data: dict[str, list[str]], token: str) -> None:
    pairs = [(n, v) for n, vs in data.items() for v in vs]
    assert canonical_query(_encode([*pairs, ('jwt', token)], plus_for_space=False)) == canonical_query(
        _encode(pairs, plus_for_space=False)
    )


@given(st.dictionaries(names, values, max_size=6))
def test_canonical_query_of_single_values_round_trips(data: dict[str, str]) -> None:
    once = canonical_query(_encode(list(data.items()), plus_for_space=False))
    assert canonical_query(once) == once


@given(st.text(max_size=2000))
def test_qsh_of_any_raw_query_never_crashes(raw: str) -> None:
    assert len(query_hash('POST', '/webhooks/jira', raw)) == 64


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
CONTEXT: dict[str, Any] = {
    'issue': {'key': 'PROJ-1', 'id': '1', 'fields': {'summary': 's', 'labels': ['a'], 'priority': {'name': 'High'}}},
    'initiator': {'displayName': 'Ada'},
    'rule': {'name': 'r'},
    'now': '2026-11-26T00:00:00Z',
    'comment': {},
}
template_pieces = st.lists(
    st.sampled_from(['{{', '}}', '{', '}', '.', 'issue', 'fields', 'key', '__class__', ' ', 'x', '|', '"', '(', ')'])
    | st.text(max_size=5),
    max_size=30,
).map(''.join)


@given(template_pieces)
def test_renderer_only_raises_template_errors(template: str) -> None:
    try:
        rendered = render(template, CONTEXT)
    except TemplateError as exc:
        position = exc.position
    else:
        assert "<class '" not in rendered.text
        return
    assert 0 <= position <= len(template)


@given(st.text(alphabet='abcdefghijklmnopqrstuvwxyz_.0123456789', min_size=1, max_size=40))
def test_paths_only_reach_data(path: str) -> None:
    try:
        rendered = render('{{' + path + '}}', {**CONTEXT, 'secret_object': object()})
    except TemplateError:
        return
    assert 'object at 0x' not in rendered.text


@given(json_values)
def test_rule_validator_raises_only_validation_errors(document: Any) -> None:
    with contextlib.suppress(ValidationError):
        Rule.model_validate(document)


rule_like = st.fixed_dictionaries(
    {
        'name': st.text(max_size=20),
        'trigger': st.fixed_dictionaries({'type': st.sampled_from(['issue_created', 'field_value_changed', 'x'])}),
        'actions': st.lists(
            st.fixed_dictionaries(
                {'type': st.sampled_from(['comment', 'log', 'assign', 'edit']), 'body': st.text(max_size=10)}
            ),
            max_size=3,
        ),
    },
    optional={
        'conditions': st.lists(
            st.fixed_dictionaries(
                {
                    'type': st.just('field'),
                    'field': st.text(max_size=10),
                    'op': st.sampled_from(['equals', 'matches', 'in', 'is_empty']),
                    'value': json_values,
                }
            ),
            max_size=3,
        )
    },
)


@given(rule_like)
def test_rule_validator_on_near_valid_rules(document: dict[str, Any]) -> None:
    try:
        rule = Rule.model_validate(document)
    except ValidationError:
        return
    assert rule.name
    assert Rule.model_validate(rule.model_dump(mode='json', by_alias=True)) == rule
