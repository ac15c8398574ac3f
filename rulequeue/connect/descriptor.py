"""The Connect app descriptor, built from settings. Clients find every other URL here."""

from __future__ import annotations

from typing import Any

from rulequeue.settings import Settings

WEBHOOK_PATH = '/webhooks/jira'
LIFECYCLE_PATHS = {
    'installed': '/lifecycle/installed',
    'uninstalled': '/lifecycle/uninstalled',
    'enabled': '/lifecycle/enabled',
    'disabled': '/lifecycle/disabled',
}
WEBHOOK_EVENTS = (
    'jira:issue_created',
    'jira:issue_updated',
    'jira:issue_deleted',
    'comment_created',
    'issuelink_created',
    'worklog_created',
)


def build_descriptor(settings: Settings) -> dict[str, Any]:
    return {
        'key': settings.app_key,
        'name': settings.app_name,
        'description': 'Rule-based automation for Jira that keeps as little of your data as possible.',
        'vendor': {'name': 'rulequeue', 'url': 'https://github.com/rulequeue/rulequeue'},
        'baseUrl': settings.app_base_url,
        'authentication': {'type': 'jwt'},
        'scopes': ['READ', 'WRITE', 'ADMIN'],
        'apiMigrations': {'signed-install': True, 'context-qsh': True, 'gdpr': True},
        'lifecycle': dict(LIFECYCLE_PATHS),
        # A paid app: Jira then appends lic=active|none to every request it sends the app.
        'enableLicensing': settings.licensing_enforced,
        'modules': {
            'webhooks': [{'event': event, 'url': WEBHOOK_PATH} for event in WEBHOOK_EVENTS],
            # Indexes the marker on issues the app creates, so a retry can find them with the JQL
            # issue.property[rulequeue.action].key = "<action key>" (worker/issue_actions.py).
            'jiraEntityProperties': [
                {
                    'key': 'rulequeue-action-index',
                    'name': {'value': 'rulequeue action keys'},
                    'entityType': 'issue',
                    'keyConfigurations': [
                        {
                            'propertyKey': 'rulequeue.action',
                            'extractions': [{'objectName': 'key', 'type': 'string', 'alias': 'rulequeueActionKey'}],
                        }
                    ],
                }
            ],
        },
    }
