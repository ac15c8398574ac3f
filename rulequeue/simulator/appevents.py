"""Webhooks for the app's own changes, sent in the background as real Jira does.

Jira reports every change, including the ones an app makes through REST (with the app's user
as ``user``): an app that reacts to its own events loops. The REST answer must not wait for
those deliveries, so each change's webhooks go out in a task of their own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.connect import ConnectLink
from rulequeue.simulator.forge_events import EVENTS_PATH, ForgeDelivery, ForgeSender
from rulequeue.simulator.state import SimulatorError


class AppEventSender:
    """Background deliveries, with the app's answers and any transport errors kept."""

    def __init__(self, link: ConnectLink, client: Callable[[], httpx.AsyncClient]) -> None:
        self._link = link
        self._client = client
        self._tasks: set[asyncio.Task[None]] = set()
        self.responses: list[httpx.Response] = []
        self.errors: list[Exception] = []

    def schedule(self, bodies: list[JsonObject]) -> None:
        self._spawn(self._send(bodies))

    def schedule_forge(self, sender: ForgeSender, events: list[JsonObject]) -> None:
        """Forge's events for the app's own change (rulequeue.simulator.forge_self), likewise."""
        self._spawn(self._send_forge(sender, events))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_forge(self, sender: ForgeSender, events: list[JsonObject]) -> None:
        for event in events:
            try:
                answer = await sender.deliver(ForgeDelivery(EVENTS_PATH, event))
            except (httpx.HTTPError, SimulatorError, ValueError) as exc:  # ValueError: no remote
                self.errors.append(exc)
            else:
                if answer is not None:
                    self.responses.append(answer)

    async def _send(self, bodies: list[JsonObject]) -> None:
        for body in bodies:
            app = self._link.app
            if app is None or app.webhook_url(body['webhookEvent']) is None:
                continue
            try:
                response = await self._link.send_webhook(
                    self._client(),
                    body,
                    delivery_id=str(uuid.uuid4()),
                    retry=None,
                    token=None,
                    headers=None,
                    raw_body=None,
                )
            except (httpx.HTTPError, SimulatorError) as exc:
                self.errors.append(exc)
            else:
                self.responses.append(response)

    async def wait(self, seconds: float) -> None:
        """Until every scheduled delivery was answered; SimulatorError after ``seconds``."""
        deadline = time.monotonic() + seconds
        while self._tasks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimulatorError(f'app events still pending after {seconds} s')
            await asyncio.wait(set(self._tasks), timeout=remaining)

    async def cancel(self) -> None:
        """Drop whatever is still pending (the site is shutting down)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
