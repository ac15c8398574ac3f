"""Sending the outbox: pending mails go out over SMTP and are marked sent.

Runs as an arq cron every minute (one worker at a time) and can be called directly. A mail the
SMTP server did not take stays pending with its attempt count and a next-try time (capped
exponential back-off), so a mail outage delays mails and loses none. A crash between the
server's 250 and the 'sent' mark sends that mail again: at least once, never lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib
import structlog

from rulequeue import constants
from rulequeue.settings import Settings
from rulequeue.store import outbox
from rulequeue.store.db import Pool
from rulequeue.store.outbox import Mail

log = structlog.get_logger('rulequeue.worker')


@dataclass(frozen=True)
class MailRun:
    sent: int = 0
    failed: int = 0


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try of a mail that has failed ``attempts`` times."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def _message(settings: Settings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message['From'] = settings.mail_from
    message['To'] = mail.recipient
    message['Subject'] = mail.subject
    message['Date'] = formatdate(localtime=False, usegmt=True)
    message['Message-ID'] = make_msgid(domain='rulequeue')
    message.set_content(mail.body)
    return message


async def _deliver(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        use_tls=settings.smtp_tls == 'tls',
        start_tls=settings.smtp_tls == 'starttls',
        timeout=constants.SMTP_TIMEOUT_SECONDS,
    )


async def send_pending(
    pool: Pool,
    settings: Settings,
    *,
    retry_base_seconds: float = constants.MAIL_RETRY_BASE_SECONDS,
    deadline_seconds: float = constants.RETENTION_RUN_SECONDS,
) -> MailRun:
    """Send due mails one by one until none is due or ``deadline_seconds`` have passed.

    One mail per claim: a slow or unreachable server then holds one mail's lease, not a batch's.
    """
    if settings.smtp_host is None:
        return MailRun()
    started, sent, failed = time.monotonic(), 0, 0
    while time.monotonic() - started < deadline_seconds:
        claimed = await outbox.claim(pool, lease_seconds=constants.MAIL_LEASE_SECONDS)
        if not claimed:
            break
        mail = claimed[0]
        try:
            await _deliver(settings, _message(settings, mail))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            delay = retry_delay(mail.attempts + 1, retry_base_seconds, constants.MAIL_RETRY_CAP_SECONDS)
            await outbox.mark_failed(pool, mail.id, f'{type(exc).__name__}: {exc}', delay)
            # The address is personal data: the line names the outbox row only.
            log.warning('mail', outbox_id=mail.id, outcome='failed', attempts=mail.attempts + 1, retry_in=delay)
            failed += 1
            continue
        await outbox.mark_sent(pool, mail.id)
        log.info('mail', outbox_id=mail.id, outcome='sent', attempts=mail.attempts + 1)
        sent += 1
    return MailRun(sent, failed)


async def mail_job(ctx: dict[str, Any]) -> int:
    """The arq cron entry point; returns how many mails were sent."""
    deps = ctx['deps']
    return (await send_pending(deps.pool, deps.settings)).sent
