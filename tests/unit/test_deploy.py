"""deploy/kubernetes is validated, not applied (no cluster here): Kubernetes' own JSON schemas
(from the kubernetes-validate package) for the built-in kinds, KEDA's CRD schema for the
ScaledObject, and the cross-references between the objects and our code."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from producer.app import create_app
from rulequeue import constants
from rulequeue.cli import build_parser
from rulequeue.settings import Settings
from tests.unit.test_grafana_alerts import METRIC_NAMES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / 'deploy' / 'kubernetes'
KEDA_CRD = Path(__file__).resolve().parents[1] / 'data' / 'keda.sh_scaledobjects.yaml'
# The oldest Kubernetes release still commonly run, and a recent one.
KUBERNETES_VERSIONS = ['1.29.0', '1.35.0']


def _objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(DEPLOY.glob('*.yaml')):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def _one(kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in _objects() if o['kind'] == kind and o['metadata']['name'] == name]
    return found


def _container(deployment: str) -> dict[str, Any]:
    [container] = _one('Deployment', deployment)['spec']['template']['spec']['containers']
    return container


def _closed(schema: Any) -> Any:
    """A CRD schema that refuses unknown fields: the API server would silently prune them."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if 'properties' in schema and 'additionalProperties' not in schema:
            schema['additionalProperties'] = False
    elif isinstance(schema, list):
        schema = [_closed(v) for v in schema]
    return schema


def _scaled_object_schema() -> dict[str, Any]:
    crd = yaml.safe_load(KEDA_CRD.read_text())
    [version] = [v for v in crd['spec']['versions'] if v['name'] == 'v1alpha1']
    schema: dict[str, Any] = _closed(version['schema']['openAPIV3Schema'])
    schema['properties']['metadata'] = {'type': 'object'}  # checked by Kubernetes, not by the CRD
    return schema


@pytest.mark.parametrize('version', KUBERNETES_VERSIONS)
def test_builtin_objects_match_the_kubernetes_schemas(version: str) -> None:
    builtin = [o for o in _objects() if not o['apiVersion'].startswith('keda.sh/')]
    assert {o['kind'] for o in builtin} == {'Deployment', 'Service', 'Secret', 'Job'}
    for obj in builtin:
        kubernetes_validate.validate(obj, version, strict=True)


def test_a_wrong_field_is_caught_by_both_validators() -> None:
    deployment = copy.deepcopy(_one('Deployment', 'rulequeue-worker'))
    deployment['spec']['template']['spec']['terminationGracePeriod'] = 45
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)
    scaled = copy.deepcopy(_one('ScaledObject', 'rulequeue-worker'))
    scaled['spec']['minReplicas'] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, _scaled_object_schema())


def test_scaled_object_matches_the_keda_crd_and_targets_the_worker() -> None:
    scaled = _one('ScaledObject', 'rulequeue-worker')
    jsonschema.validate(scaled, _scaled_object_schema())
    assert scaled['apiVersion'] == 'keda.sh/v1alpha1'
    spec = scaled['spec']
    assert _one('Deployment', spec['scaleTargetRef']['name'])
    # Workers run the reconciler and sweep crons and export the queue gauges: never scale to 0.
    assert spec['minReplicaCount'] >= 1
    queries = [t['metadata']['query'] for t in spec['triggers']]
    assert all(t['type'] == 'prometheus' for t in spec['triggers'])
    used = {name for q in queries for name in re.findall(r'rulequeue_[a-z_]+', q)}
    assert used == {'rulequeue_queue_ready_jobs', 'rulequeue_queue_oldest_ready_age_seconds'}
    assert used <= METRIC_NAMES


def test_worker_pod_outlives_the_job_completion_grace_and_probes_its_own_health() -> None:
    pod = _one('Deployment', 'rulequeue-worker')['spec']['template']['spec']
    container = _container('rulequeue-worker')
    env = {e['name']: e['value'] for e in container['env']}
    grace = int(env.get('JOB_COMPLETION_WAIT_SECONDS', constants.JOB_COMPLETION_WAIT_SECONDS))
    assert pod['terminationGracePeriodSeconds'] > grace + 5
    assert container['livenessProbe']['exec']['command'] == ['rulequeue', 'health']
    assert build_parser().parse_args(['health']).command == 'health'
    command = container['command']
    assert command[0] == 'rulequeue'
    args = build_parser().parse_args(command[1:])
    assert args.command == 'worker'
    assert container['resources']['requests']['cpu']
    assert container['resources']['limits']['memory']
    assert container['ports'][0]['containerPort'] == int(env['WORKER_METRICS_PORT'])


def test_producer_probes_and_service_point_at_real_routes() -> None:
    container = _container('rulequeue-producer')
    settings = Settings(
        database_url='postgresql://db/x', redis_url='redis://redis', app_base_url='https://x', secret_key='k' * 32
    )
    routes = {getattr(route, 'path', None) for route in create_app(settings).routes}
    assert container['livenessProbe']['httpGet']['path'] == '/healthz'
    assert container['readinessProbe']['httpGet']['path'] == '/readyz'
    assert {'/healthz', '/readyz'} <= routes
    service = _one('Service', 'rulequeue-producer')
    labels = _one('Deployment', 'rulequeue-producer')['spec']['template']['metadata']['labels']
    assert service['spec']['selector'].items() <= labels.items()
    assert service['spec']['ports'][0]['targetPort'] == container['ports'][0]['name']


def test_every_pod_reads_the_settings_secret_which_names_every_required_setting() -> None:
    secret = _one('Secret', 'rulequeue')
    required = {name.upper() for name, field in Settings.model_fields.items() if field.is_required()}
    assert required == {'DATABASE_URL', 'REDIS_URL', 'APP_BASE_URL', 'SECRET_KEY'}
    assert required <= set(secret['stringData'])
    for obj in _objects():
        if obj['kind'] in {'Deployment', 'Job'}:
            for container in obj['spec']['template']['spec']['containers']:
                assert {'secretRef': {'name': 'rulequeue'}} in container['envFrom'], obj['metadata']['name']
