"""A real SMTP server (aiosmtpd) in the test's event loop, on a port of its own.

It can be stopped and started again on the same port, to play a mail outage; every message it
accepted is kept in :attr:`LocalSmtp.messages` as parsed e-mails with their envelope recipients.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP

from rulequeue.serve import free_port


@dataclass(frozen=True)
class Received:
    recipients: list[str]
    message: EmailMessage


class LocalSmtp:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Received] = []
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Received(list(envelope.rcpt_tos), parsed))
        return '250 OK'

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname='localhost'), '127.0.0.1', self.port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def settings(self) -> dict[str, object]:
        """Overrides pointing our Settings at this server (plain SMTP, no TLS)."""
        return {'smtp_host': '127.0.0.1', 'smtp_port': self.port, 'smtp_tls': 'none', 'mail_from': 'rq@test.example'}
