"""An unlicensed site's event: its rules are not run, the audit says so, the owners are told.

No Jira call is made. The UNLICENSED audit rows and the owners' e-mails are written in one
transaction, so a mail is queued exactly when the skip is recorded; the outbox's unique key
(tenant, recipient, day, kind) keeps it to one mail per owner per day however many events come.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

from rulequeue.store import audit, outbox
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Tenant
from schemas.audit import AuditStatus
from schemas.events import WebhookEvent
from schemas.jobs import ExecutionJob
from schemas.rules import StoredRule
from worker.rule_run import RuleRun

MAIL_KIND = 'unlicensed'
NOT_RUN = 'not run: the app has no active licence on this site (Jira did not send lic=active)'


def skipped_rules(candidates: list[StoredRule], event: WebhookEvent) -> list[StoredRule]:
    """The rules that would have run; without a Jira call we cannot tell our app user from
    another app's, so app-caused events count only for rules that allow them."""
    caused_by_an_app = event.actor().get('accountType') == 'app'
    return [s for s in candidates if s.rule.allow_rule_trigger or not caused_by_an_app]


def owner_mails(tenant: Tenant, rules: list[StoredRule]) -> dict[str, tuple[str, str]]:
    """Recipient -> (subject, body) for each owner with an e-mail address among ``rules``."""
    by_owner: dict[str, list[str]] = defaultdict(list)
    for stored in rules:
        owner = stored.rule.owner
        if owner is not None and owner.email:
            by_owner[owner.email.strip().lower()].append(stored.rule.name)
    site = tenant.base_url
    mails = {}
    for recipient, names in by_owner.items():
        listing = '\n'.join(f'  - {name}' for name in sorted(set(names)))
        body = (
            f'Rules you own on {site} did not run because the app has no active licence on this site.\n\n'
            f'Affected rules:\n{listing}\n\n'
            'Events keep being recorded in the audit log with the status UNLICENSED. Renew or start the\n'
            "app's subscription in Jira (Settings > Apps > Manage apps) to run your rules again.\n\n"
            'You get at most one such e-mail a day.\n'
        )
        mails[recipient] = (f'Your automation rules on {site} are not running: no active licence', body)
    return mails


async def record_unlicensed(
    pool: Pool, job: ExecutionJob, tenant: Tenant, event: WebhookEvent, candidates: list[StoredRule], attempts: int
) -> list[str]:
    """Write the UNLICENSED audit rows and queue the owners' mails; returns the statuses."""
    rules = skipped_rules(candidates, event)
    today: date = datetime.now(UTC).date()
    async with pool.acquire() as conn, conn.transaction():
        for stored in rules:
            run = RuleRun(stored, messages=[NOT_RUN])
            await audit.record(conn, run.entry(job, event, attempts, AuditStatus.UNLICENSED))
        for recipient, (subject, body) in owner_mails(tenant, rules).items():
            await outbox.enqueue(
                conn,
                client_key=tenant.client_key,
                kind=MAIL_KIND,
                recipient=recipient,
                day=today,
                subject=subject,
                body=body,
            )
    return [AuditStatus.UNLICENSED.value] * len(rules)
