"""The OpenAPI description of the rules and audit API, generated from the pydantic models.

Served at ``/api/openapi.json``; schemathesis fuzzes the API from it in the test suite.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from rulequeue.a4j_import import ImportReport
from schemas.audit import AuditRecord, AuditStatus
from schemas.evaluations import EvaluationRecord, ExplainValues
from schemas.privacy import PrivacyReport
from schemas.rules import Rule, RuleResponse
from worker.dry_run import EVENT_TYPES, DryRunReport

_REF = '#/components/schemas/{model}'


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {'description': description, 'content': {'application/json': {'schema': {'$ref': schema_ref}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: 'malformed request',
        401: 'missing, invalid or expired Connect JWT, or unknown tenant',
        404: 'no such rule for this tenant',
        409: 'the rule cannot be run by hand (not a manual rule, disabled, or the issue is out of its projects)',
        408: 'body not received in time',
        413: 'body too large',
        415: 'body is not JSON',
        422: 'rule failed validation',
        429: 'rate limited',
        503: 'a backing service is unavailable',
    }
    return {str(code): _json('#/components/schemas/Error', reasons[code]) for code in statuses}


def _explain_paths(common: dict[str, Any]) -> dict[str, Any]:
    """The explain API: evaluations per delivery and per issue, and the opt-in to keep values."""
    one = _json(_REF.format(model='EvaluationRecord'), 'why each rule did or did not run')
    choice = _json(_REF.format(model='ExplainValues'), 'whether failing conditions keep their actual values')
    text_param = {'in': 'path', 'required': True, 'schema': {'type': 'string'}}
    return {
        '/api/events/{delivery_id}': {
            'parameters': [{'name': 'delivery_id', **text_param}],
            'get': {'operationId': 'getEvent', 'responses': {'200': one, **common, **_errors(404)}},
        },
        '/api/issues/{issue_key}/events': {
            'parameters': [{'name': 'issue_key', **text_param}],
            'get': {
                'operationId': 'listIssueEvents',
                'parameters': [
                    {'name': 'limit', 'in': 'query', 'schema': {'type': 'integer', 'minimum': 1, 'maximum': 100}}
                ],
                'responses': {
                    '200': _json(_REF.format(model='EvaluationList'), 'evaluations, newest first'),
                    **common,
                },
            },
        },
        '/api/settings/explain-values': {
            'get': {'operationId': 'getExplainValues', 'responses': {'200': choice, **common}},
            'put': {
                'operationId': 'putExplainValues',
                'requestBody': {
                    'required': True,
                    'content': {'application/json': {'schema': {'$ref': _REF.format(model='ExplainValues')}}},
                },
                'responses': {'200': choice, **common, **_errors(422)},
            },
        },
    }


def _rule_tool_paths(common: dict[str, Any]) -> dict[str, Any]:
    """The rule JSON Schema and the dry run (producer/rule_tools_api.py)."""
    request = {
        'type': 'object',
        'required': ['rule'],
        'additionalProperties': False,
        'properties': {
            'rule': {'$ref': _REF.format(model='Rule')},
            'issue_key': {'type': 'string'},
            'issue': {'type': 'object'},
            'event': {'type': 'string', 'enum': list(EVENT_TYPES)},
            'changelog': {'type': 'object'},
            'comment': {'type': 'object'},
            'user': {'type': 'object'},
        },
    }
    return {
        '/api/rules/schema': {
            'get': {
                'operationId': 'getRuleSchema',
                'responses': {'200': _json_schema({'type': 'object'}, 'the JSON Schema of a rule'), **common},
            }
        },
        '/api/rules/dry-run': {
            'post': {
                'operationId': 'dryRunRule',
                'requestBody': {'required': True, 'content': {'application/json': {'schema': request}}},
                'responses': {
                    '200': _json(_REF.format(model='DryRunReport'), 'what the rule would decide and write'),
                    **common,
                    **_errors(404, 422),
                },
            }
        },
    }


def _manual_run_paths(common: dict[str, Any]) -> dict[str, Any]:
    """Running a manual rule on one issue (producer/manual_api.py)."""
    request = {
        'type': 'object',
        'required': ['issue'],
        'additionalProperties': False,
        'properties': {'issue': {'type': 'string', 'description': 'an issue key (OPS-1) or id (10001)'}},
    }
    accepted = {
        'type': 'object',
        'required': ['status', 'delivery_id', 'rule_id', 'issue'],
        'properties': {
            'status': {'type': 'string', 'enum': ['accepted', 'duplicate']},
            'delivery_id': {'type': 'string', 'description': 'explained at /api/events/{delivery_id}'},
            'rule_id': {'type': 'string'},
            'issue': {'type': 'object', 'properties': {'id': {'type': 'string'}, 'key': {'type': 'string'}}},
        },
    }
    return {
        '/api/rules/{rule_id}/run': {
            'parameters': [{'name': 'rule_id', 'in': 'path', 'required': True, 'schema': {'type': 'string'}}],
            'post': {
                'operationId': 'runRule',
                'requestBody': {'required': True, 'content': {'application/json': {'schema': request}}},
                'responses': {
                    '202': _json_schema(accepted, 'the run was queued'),
                    **common,
                    **_errors(404, 409, 422),
                },
            },
        }
    }


def _import_paths(common: dict[str, Any]) -> dict[str, Any]:
    """Importing rules exported from Automation for Jira (producer/import_api.py)."""
    ids = {'type': 'object', 'additionalProperties': {'type': 'string'}}
    request = {
        'type': 'object',
        'required': ['rules'],
        'properties': {
            'rules': {'type': 'array', 'items': {'type': 'object'}, 'description': 'rules as A4J exports them'},
            'ids': {
                'type': 'object',
                'additionalProperties': False,
                'properties': {kind: ids for kind in ('projects', 'statuses', 'issuetypes', 'link_types')},
                'description': 'keys or names for the ids the export uses',
            },
        },
    }
    flag = {'type': 'boolean', 'default': False}
    return {
        '/api/rules/import': {
            'post': {
                'operationId': 'importRules',
                'parameters': [
                    {'name': 'dry_run', 'in': 'query', 'schema': flag},
                    {'name': 'allow_partial', 'in': 'query', 'schema': flag},
                ],
                'requestBody': {'required': True, 'content': {'application/json': {'schema': request}}},
                'responses': {
                    '200': _json(_REF.format(model='ImportReport'), 'what was (or would be) imported and skipped'),
                    **common,
                    **_errors(422),
                },
            }
        }
    }


def _transport_paths(common: dict[str, Any]) -> dict[str, Any]:
    """Which transport's events the tenant runs (producer/transport_api.py)."""
    state = {
        'type': 'object',
        'required': ['transport', 'forge_installed', 'cutover'],
        'properties': {
            'transport': {'type': 'string', 'enum': ['connect', 'forge']},
            'forge_installed': {'type': 'boolean'},
            'cutover': {'type': 'string', 'enum': ['auto', 'manual']},
        },
    }
    choice = {
        'type': 'object',
        'required': ['transport'],
        'additionalProperties': False,
        'properties': {'transport': {'type': 'string', 'enum': ['connect', 'forge']}},
    }
    answer = _json_schema(state, "the tenant's transport")
    no_forge = _json('#/components/schemas/Error', 'no active Forge installation is linked to this site')
    return {
        '/api/settings/transport': {
            'get': {'operationId': 'getTransport', 'responses': {'200': answer, **common}},
            'put': {
                'operationId': 'putTransport',
                'requestBody': {'required': True, 'content': {'application/json': {'schema': choice}}},
                'responses': {'200': answer, '409': no_forge, **common, **_errors(422)},
            },
        }
    }


def _json_schema(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {'description': description, 'content': {'application/json': {'schema': schema}}}


def build_openapi(server_url: str) -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (Rule, 'validation'),
            (RuleResponse, 'serialization'),
            (AuditRecord, 'serialization'),
            (PrivacyReport, 'serialization'),
            (EvaluationRecord, 'serialization'),
            (ExplainValues, 'validation'),
            (DryRunReport, 'serialization'),
            (ImportReport, 'serialization'),
        ],
        ref_template=_REF,
    )
    components: dict[str, Any] = dict(defs.get('$defs', {}))
    components['Error'] = {
        'type': 'object',
        'required': ['error'],
        'properties': {
            'error': {'type': 'string'},
            'errors': {
                'type': 'array',
                'items': {'type': 'object', 'properties': {'path': {'type': 'string'}, 'message': {'type': 'string'}}},
            },
        },
    }
    components['RuleList'] = {
        'type': 'object',
        'required': ['rules'],
        'properties': {'rules': {'type': 'array', 'items': {'$ref': _REF.format(model='RuleResponse')}}},
    }
    components['AuditList'] = {
        'type': 'object',
        'required': ['entries'],
        'properties': {'entries': {'type': 'array', 'items': {'$ref': _REF.format(model='AuditRecord')}}},
    }
    components['WebRequestHosts'] = {
        'type': 'object',
        'required': ['hosts'],
        'additionalProperties': False,
        'properties': {
            'hosts': {
                'type': 'array',
                'maxItems': 100,
                'items': {'type': 'string', 'maxLength': 253, 'description': 'a host name, or *. and a domain'},
            }
        },
    }
    components['EvaluationList'] = {
        'type': 'object',
        'required': ['events'],
        'properties': {'events': {'type': 'array', 'items': {'$ref': _REF.format(model='EvaluationRecord')}}},
    }
    rule_body = {'required': True, 'content': {'application/json': {'schema': {'$ref': _REF.format(model='Rule')}}}}
    rule_id = {'name': 'rule_id', 'in': 'path', 'required': True, 'schema': {'type': 'string'}}
    common = _errors(400, 401, 408, 413, 415, 429, 503)
    one_rule = _json(_REF.format(model='RuleResponse'), 'the rule')
    return {
        'openapi': '3.1.0',
        'info': {'title': 'rulequeue rules, audit and privacy API', 'version': '1'},
        'servers': [{'url': server_url}],
        'security': [{'connectJwt': []}],
        'paths': {
            '/api/rules': {
                'get': {
                    'operationId': 'listRules',
                    'responses': {'200': _json(_REF.format(model='RuleList'), 'rules'), **common},
                },
                'post': {
                    'operationId': 'createRule',
                    'requestBody': rule_body,
                    'responses': {'201': one_rule, **common, **_errors(422)},
                },
            },
            '/api/rules/{rule_id}': {
                'parameters': [rule_id],
                'get': {'operationId': 'getRule', 'responses': {'200': one_rule, **common, **_errors(404)}},
                'put': {
                    'operationId': 'replaceRule',
                    'requestBody': rule_body,
                    'responses': {'200': one_rule, **common, **_errors(404, 422)},
                },
                'delete': {
                    'operationId': 'deleteRule',
                    'responses': {'204': {'description': 'deleted'}, **common, **_errors(404)},
                },
            },
            '/api/audit': {
                'get': {
                    'operationId': 'listAudit',
                    'parameters': [
                        {'name': 'issue', 'in': 'query', 'schema': {'type': 'string'}},
                        {'name': 'rule', 'in': 'query', 'schema': {'type': 'string'}},
                        {
                            'name': 'status',
                            'in': 'query',
                            'schema': {
                                'type': 'string',
                                'enum': [status.value for status in AuditStatus],
                            },
                        },
                        {'name': 'limit', 'in': 'query', 'schema': {'type': 'integer', 'minimum': 1, 'maximum': 500}},
                    ],
                    'responses': {
                        '200': _json(_REF.format(model='AuditList'), 'audit entries, newest first'),
                        **common,
                    },
                }
            },
            '/api/privacy': {
                'get': {
                    'operationId': 'getPrivacy',
                    'responses': {
                        '200': _json(_REF.format(model='PrivacyReport'), 'what is stored, where and for how long'),
                        **common,
                    },
                }
            },
            **_explain_paths(common),
            **_manual_run_paths(common),
            **_rule_tool_paths(common),
            **_import_paths(common),
            **_transport_paths(common),
            '/api/web-request-hosts': {
                'get': {
                    'operationId': 'getWebRequestHosts',
                    'responses': {'200': _json(_REF.format(model='WebRequestHosts'), 'the allow-list'), **common},
                },
                'put': {
                    'operationId': 'putWebRequestHosts',
                    'requestBody': {
                        'required': True,
                        'content': {'application/json': {'schema': {'$ref': _REF.format(model='WebRequestHosts')}}},
                    },
                    'responses': {
                        '200': _json(_REF.format(model='WebRequestHosts'), 'the allow-list as saved'),
                        **common,
                        **_errors(422),
                    },
                },
            },
        },
        'components': {
            'schemas': components,
            'securitySchemes': {
                'connectJwt': {
                    'type': 'apiKey',
                    'in': 'header',
                    'name': 'Authorization',
                    'description': 'JWT <Connect token of the tenant; qsh = request hash or context-qsh>',
                }
            },
        },
    }
