"""``rulequeue forge-manifest``: the Forge app manifest an operator deploys for their rulequeue.

Every operator registers their own Forge app (FORGE.md 5.3); its ``manifest.yml`` names the app
id, one remote (this deployment's public base URL) and the modules that call it: the product
events the rule triggers need, the installed/upgraded lifecycle, an hourly scheduled trigger
that keeps a fresh app system token, and ``preUninstall``. Scopes are derived from the triggers
and actions the deployment enables (FORGE.md 2.2), plus ``read:app-system-token``, without
which Forge mints no token for the remote.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rulequeue.forge.events import INSTALLED, TRIGGERS, UPGRADED

RUNTIME = 'nodejs24.x'
REMOTE_KEY = 'rq'
# Where the producer will serve each Forge call (the routes are the next step of issue #8).
ROUTES = {
    'ep-events': '/forge/events',
    'ep-lifecycle': '/forge/lifecycle',
    'ep-keepalive': '/forge/refresh',
    'ep-uninstall': '/forge/uninstall',
}
# Triggers the app starts itself (the run API, the scheduler's cron): no product event, but they
# read issues (and search) in Jira.
APP_TRIGGERS = frozenset({'manual', 'scheduled'})
ALL_TRIGGERS = frozenset(t for _, triggers in TRIGGERS.values() for t in triggers) | APP_TRIGGERS
# Actions that write to Jira; 'log' writes only our audit entry, 'web_request' calls elsewhere.
WRITING_ACTIONS = frozenset(
    {'comment', 'edit', 'transition', 'assign', 'create_issue', 'create_subtasks', 'link_issues', 'add_watcher'}
)
# 'if' is a block of other actions; it needs no scope of its own. 'branch' reads related issues
# (read:jira-work); 'delay' needs nothing.
ALL_ACTIONS = WRITING_ACTIONS | {'log', 'web_request', 'refetch', 'if', 'branch', 'delay'}
MODULE_KEY_LIMIT = 23


def events_for(triggers: Iterable[str]) -> list[str]:
    """The Forge product events that can fire any of ``triggers``, in a stable order."""
    wanted = set(triggers)
    return [event for event, (_, fired) in TRIGGERS.items() if wanted & set(fired)]


def scopes_for(triggers: Iterable[str], actions: Iterable[str]) -> list[str]:
    scopes = {'read:app-system-token'}
    if events_for(triggers) or set(triggers) & APP_TRIGGERS or set(actions) & (ALL_ACTIONS - {'web_request'}):
        scopes.add('read:jira-work')  # issue, comment, link and worklog events, re-reading the issue
    if set(actions) & WRITING_ACTIONS:
        scopes.add('write:jira-work')
    if events_for(triggers) or 'manual' in set(triggers) or {'assign', 'add_watcher'} & set(actions):
        scopes.add('read:jira-user')  # an event's or a manual run's actor ({{initiator}}), assignees, watchers
    return sorted(scopes)


def _endpoint(key: str) -> dict[str, Any]:
    return {
        'key': key,
        'remote': REMOTE_KEY,
        'route': {'path': ROUTES[key]},
        'auth': {'appSystemToken': {'enabled': True}},
    }


def build_manifest(
    *, app_id: str, base_url: str, triggers: Iterable[str] = ALL_TRIGGERS, actions: Iterable[str] = ALL_ACTIONS
) -> dict[str, Any]:
    """The manifest as a document; ValueError names an unknown trigger or action."""
    triggers, actions = sorted(set(triggers)), sorted(set(actions))
    unknown = [t for t in triggers if t not in ALL_TRIGGERS] + [a for a in actions if a not in ALL_ACTIONS]
    if unknown:
        raise ValueError(f'unknown trigger or action: {", ".join(unknown)}')
    if not app_id.startswith('ari:cloud:ecosystem::app/'):
        raise ValueError('the app id is an ARI: ari:cloud:ecosystem::app/<uuid> (forge register prints it)')
    if not base_url.startswith('https://'):
        raise ValueError('Forge calls remotes over https only')
    trigger_modules: list[dict[str, Any]] = []
    if events := events_for(triggers):
        trigger_modules.append({'key': 'rq-jira-events', 'endpoint': 'ep-events', 'events': events})
    trigger_modules.append({'key': 'rq-app-lifecycle', 'endpoint': 'ep-lifecycle', 'events': [INSTALLED, UPGRADED]})
    return {
        'app': {'id': app_id, 'runtime': {'name': RUNTIME}},
        'remotes': [
            {
                'key': REMOTE_KEY,
                'baseUrl': base_url.rstrip('/'),
                # Snapshots and audit rows are in-scope end-user data we store.
                'operations': ['storage', 'compute'],
                'storage': {'inScopeEUD': True},
            }
        ],
        'permissions': {'scopes': scopes_for(triggers, actions)},
        'modules': {
            'trigger': trigger_modules,
            # Direct to the remote: only then is the token guaranteed 2 h of life (FORGE.md 2.2).
            'scheduledTrigger': [{'key': 'rq-token-keepalive', 'endpoint': 'ep-keepalive', 'interval': 'hour'}],
            'preUninstall': [{'key': 'rq-before-uninstall', 'endpoint': 'ep-uninstall'}],
            'endpoint': [_endpoint(key) for key in ROUTES],
        },
    }
