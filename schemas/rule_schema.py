"""The rule document's JSON Schema, generated from :class:`schemas.rules.Rule`.

The same schema is served at ``GET /api/rules/schema`` and shipped as ``schemas/rule.schema.json``
for editors and CI checks outside Python. After changing the model, regenerate the file with
``python -m schemas.rule_schema`` (``make rule-schema``); a test fails while the two differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.rules import Rule

SCHEMA_PATH = Path(__file__).with_name('rule.schema.json')
DIALECT = 'https://json-schema.org/draft/2020-12/schema'


def rule_json_schema() -> dict[str, Any]:
    """The JSON Schema of a rule as the API accepts it (aliases such as ``from`` included)."""
    return {'$schema': DIALECT, **Rule.model_json_schema(by_alias=True, mode='validation')}


def rendered() -> str:
    """The schema as the shipped file holds it: stable key order, so diffs stay readable."""
    return json.dumps(rule_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + '\n'


def main() -> None:
    SCHEMA_PATH.write_text(rendered(), encoding='utf-8')


if __name__ == '__main__':
    main()
