"""The shipped rule JSON Schema: in step with the model, and every example rule conforms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas.rule_schema import SCHEMA_PATH, rendered

EXAMPLES = sorted((Path(__file__).parents[2] / 'examples' / 'rules').glob('*.json'))


@pytest.fixture(name='validator')
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding='utf-8'))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_shipped_schema_equals_the_model() -> None:
    assert SCHEMA_PATH.read_text(encoding='utf-8') == rendered(), 'run `make rule-schema` to regenerate it'


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize('path', EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_conforms_to_the_shipped_schema(validator: Draft202012Validator, path: Path) -> None:
    errors = [f'{list(e.absolute_path)}: {e.message}' for e in validator.iter_errors(json.loads(path.read_text()))]
    assert errors == []


def test_schema_refuses_what_the_api_refuses(validator: Draft202012Validator) -> None:
    example = json.loads(EXAMPLES[0].read_text())
    assert not validator.is_valid({**example, 'condtions': []})  # a typo is an unknown key
    assert not validator.is_valid({**example, 'trigger': {'type': 'no_such_trigger'}})
    assert not validator.is_valid({**example, 'actions': []})


def _used(steps: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """(``conditions`` or ``actions``, type) of every component in an action list, nested ones too."""
    for step in steps:
        yield 'actions', step['type']
        for condition in step.get('conditions', []):
            yield 'conditions', condition['type']
        for nested in ('then', 'else', 'actions'):
            yield from _used(step.get(nested, []))


def test_the_examples_use_every_component_the_schema_defines() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding='utf-8'))
    mapping = {
        'trigger': schema['properties']['trigger']['discriminator']['mapping'],
        'conditions': schema['properties']['conditions']['items']['discriminator']['mapping'],
        'actions': schema['properties']['actions']['items']['discriminator']['mapping'],  # with if, branch, delay
    }
    defined = {(kind, name) for kind, names in mapping.items() for name in names}
    used: set[tuple[str, str]] = set()
    for path in EXAMPLES:
        rule = json.loads(path.read_text())
        used.add(('trigger', rule['trigger']['type']))
        used.update(('conditions', c['type']) for c in rule.get('conditions', []))
        used.update(_used(rule['actions']))
        if any(step['type'] == 'if' and step.get('else') for step in rule['actions']):
            used.add(('actions', 'if/else'))
    assert sorted(defined - used) == [], 'add an example rule in examples/rules/ that uses these'
    assert ('actions', 'if/else') in used, 'no example has an "if" with an "else"'
