"""The inventory of stored data, with this deployment's retention figures.

One list feeds ``GET /api/privacy``; the README's privacy table says the same, and a test keeps
both in step with ``schemas/schema.sql`` and the key names in :mod:`rulequeue.constants`.
"""

from __future__ import annotations

from arq.constants import job_key_prefix

from rulequeue import constants
from rulequeue.settings import Settings
from rulequeue.store.deliveries import DONE_RETENTION_DAYS
from schemas.privacy import PrivacyReport, RetentionSettings, StoredData


def key_pattern(template: str) -> str:
    """``rulequeue:snap:{tenant}:{execution}`` -> ``rulequeue:snap:<tenant>:<execution>``."""
    return template.replace('{', '<').replace('}', '>')


def inventory(settings: Settings) -> PrivacyReport:
    audit_days, grace = settings.audit_retention_days, settings.uninstall_grace_days
    after_uninstall = f'deleted {grace} days after uninstall (UNINSTALL_GRACE_DAYS) unless re-installed'
    snapshot_hours = constants.SNAPSHOT_TTL_SECONDS / 3600
    while_running = f'while its execution runs; deleted with the snapshot; {snapshot_hours:g} h TTL as a backstop'
    stored = [
        StoredData(
            data='Issue snapshot (the webhook body), compressed and AES-256-GCM encrypted, bound to the tenant',
            store='redis',
            location=key_pattern(constants.SNAPSHOT_KEY),
            retention='while its execution runs; deleted in the step that records the outcome; '
            f'{snapshot_hours:g} h TTL as a backstop',
            max_days=constants.SNAPSHOT_TTL_SECONDS / 86400,
        ),
        StoredData(
            data='arq job: ids only (tenant, delivery id, snapshot key, licence state); results are never written',
            store='redis',
            location=job_key_prefix + '<execution>',
            retention=f'until the job ends; {constants.JOB_EXPIRES_SECONDS / 3600:g} h if it never runs',
            max_days=constants.JOB_EXPIRES_SECONDS / 86400,
        ),
        StoredData(
            data='Done marker: a status word',
            store='redis',
            location=key_pattern(constants.DONE_KEY),
            retention=f'{constants.DONE_TTL_SECONDS // 86400} days',
            max_days=constants.DONE_TTL_SECONDS / 86400,
        ),
        *(
            StoredData(
                data=what,
                store='redis',
                location=key_pattern(template),
                retention=while_running,
                max_days=constants.SNAPSHOT_TTL_SECONDS / 86400,
            )
            for what, template in (
                ('Action progress: ids and the changes made', constants.PROGRESS_KEY),
                ('Attempt counter', constants.ATTEMPTS_KEY),
                ('Per-issue order of pending executions: ids and timestamps', constants.ORDER_KEY),
            )
        ),
        *(
            StoredData(data=what, store='redis', location=key_pattern(template), retention='minutes: TTL once refilled')
            for what, template in (
                ("Rate limit: a tenant's webhook token bucket", constants.RATE_TENANT_KEY),
                ('Rate limit: failed authentications per client address (hashed)', constants.RATE_IP_FAILURES_KEY),
            )
        ),
        *(
            StoredData(
                data=what,
                store='redis',
                location=key_pattern(template),
                retention=f'{ttl // 60} minutes',
                max_days=ttl / 86400,
            )
            for what, template, ttl in (
                (
                    'Service limit: executions of a rule this hour (delivery ids)',
                    constants.RULE_HOUR_KEY,
                    constants.RULE_HOUR_TTL_SECONDS,
                ),
                (
                    'Loop detection: chain depth of our last change to an issue',
                    constants.CHAIN_ISSUE_KEY,
                    constants.CHAIN_TTL_SECONDS,
                ),
                (
                    'Loop detection: chain depth of an execution',
                    constants.CHAIN_EXECUTION_KEY,
                    constants.CHAIN_TTL_SECONDS,
                ),
                (
                    'Forge event seen: its idempotency key (hashed), to drop re-deliveries',
                    constants.FORGE_EVENT_KEY,
                    constants.FORGE_EVENT_TTL_SECONDS,
                ),
                (
                    'Change claimed by a transport (connect or forge), so a migrating site runs it once',
                    constants.CHANGE_KEY,
                    constants.CHANGE_TTL_SECONDS,
                ),
            )
        ),
        StoredData(
            data="Tenant: clientKey, site URL, cloud id, state, our app user's account id, "
            'whether evaluations keep values',
            store='postgres',
            location='tenants',
            retention=f'while installed; {after_uninstall}',
        ),
        StoredData(
            data='Tenant shared secret, AES-256-GCM encrypted, bound to the clientKey (tenants.shared_secret_enc)',
            store='postgres',
            location='tenants',
            retention='until uninstall, when it is deleted at once',
        ),
        StoredData(
            data="Rules, including the owner's account id, name and e-mail",
            store='postgres',
            location='rules',
            retention=f'until deleted by the tenant; {after_uninstall}',
        ),
        StoredData(
            data='Forge installations: installation, site and app ids, API base URL, the app system token '
            'AES-256-GCM encrypted with its expiry',
            store='postgres',
            location='forge_installations',
            retention=f'while installed; the token is deleted at once on preUninstall; {after_uninstall}',
        ),
        StoredData(
            data='Forge deliveries we could not use (malformed, unknown type, too large): ids, event type, reason; '
            'never the body',
            store='postgres',
            location='forge_rejected_events',
            retention=f'{audit_days} days (AUDIT_RETENTION_DAYS); {after_uninstall}',
            max_days=audit_days,
        ),
        StoredData(
            data='Hosts the tenant allows web request actions to call',
            store='postgres',
            location='web_request_hosts',
            retention=f'until removed by the tenant; {after_uninstall}',
        ),
        StoredData(
            data='Audit entries: rule, status, issue key and id, delivery id, the changes the rule made, messages',
            store='postgres',
            location='audit_log',
            retention=f'{audit_days} days (AUDIT_RETENTION_DAYS); {after_uninstall}',
            max_days=audit_days,
        ),
        StoredData(
            data='Evaluations: per event, each rule and why it did or did not run (rule configuration, event type, '
            "changed field names); a failing condition's actual value only if the tenant opted in, 80 characters",
            store='postgres',
            location='evaluations',
            retention=f'{audit_days} days (AUDIT_RETENTION_DAYS); {after_uninstall}',
            max_days=audit_days,
        ),
        StoredData(
            data='Delivery records: ids, event type, changed field names (no values), times, state, licence state, '
            "job options (rule ids, branch or delay place, a manual run's initiator account id)",
            store='postgres',
            location='deliveries',
            retention=f'{min(DONE_RETENTION_DAYS, audit_days)} days after the execution finished',
        ),
        StoredData(
            data='Dead letters: ids, rules, error, attempts, event type and changed field names (no values), '
            "its delivery's job options",
            store='postgres',
            location='dead_letters',
            retention=f'{audit_days} days (AUDIT_RETENTION_DAYS); {after_uninstall}',
            max_days=audit_days,
        ),
        StoredData(
            data="E-mails to rule owners: the owner's address, rule names, the site URL",
            store='postgres',
            location='outbox',
            retention=f'until sent, then {audit_days} days (AUDIT_RETENTION_DAYS); {after_uninstall}',
        ),
        StoredData(
            data='Logs: ids, outcomes and durations; never tokens, secrets or field values',
            store='stdout',
            location='stdout',
            retention="as long as the operator's log store keeps them",
        ),
    ]
    return PrivacyReport(
        retention=RetentionSettings(audit_retention_days=audit_days, uninstall_grace_days=grace), stored=stored
    )
