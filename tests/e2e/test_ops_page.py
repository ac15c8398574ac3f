"""/ops: the operator token guards it, and in headless Chromium its charts and tables fill with live data."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.simulator import ALICE
from tests.e2e.test_pipeline import TRIAGE
from tests.harness import System, running_system

TOKEN = 'ops-token-0123456789abcdef'
CHROMIUM = Path('/usr/bin/chromium')
ARTIFACTS = Path(__file__).resolve().parents[2] / '.artifacts'
CHROMIUM_FLAGS = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
]


@pytest.fixture(name='ops')
async def _ops(schema: str, redis: aioredis.Redis) -> AsyncIterator[System]:
    async with running_system(schema, ops_token=TOKEN) as system:
        yield system


async def test_without_an_ops_token_the_page_does_not_exist(system: System) -> None:
    for path in ('/ops', f'/ops?token={TOKEN}', '/ops/data'):
        response = await system.http.get(system.url + path, headers={'Authorization': f'Bearer {TOKEN}'})
        assert response.status_code == 404, path


async def test_the_operator_token_is_required_and_becomes_an_http_only_cookie(ops: System) -> None:
    url = ops.url + '/ops'
    for headers in ({}, {'Authorization': 'Bearer wrong-token-0123456789'}, {'Authorization': f'JWT {TOKEN}'}):
        for path in ('', '/data'):
            response = await ops.http.get(url + path, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.json() == {'error': 'operator token required'}
    assert (await ops.http.get(url, params={'token': 'wrong-token-0123456789'})).status_code == 401
    assert (await ops.http.get(url + '/data', params={'token': TOKEN})).status_code == 401  # page login only

    page = await ops.http.get(url, headers={'Authorization': f'Bearer {TOKEN}'})
    assert page.status_code == 200
    assert page.headers['content-type'].startswith('text/html')
    assert "script-src 'sha256-" in page.headers['content-security-policy']
    assert page.headers['cache-control'] == 'no-store'

    login = await ops.http.get(url, params={'token': TOKEN})
    assert login.status_code == 303
    assert login.headers['location'] == url
    cookie = login.headers['set-cookie']
    assert cookie.startswith(constants.OPS_COOKIE + '=')
    for attribute in ('HttpOnly', 'SameSite=strict', 'Path=/ops', f'Max-Age={constants.OPS_COOKIE_MAX_AGE_SECONDS}'):
        assert attribute in cookie
    value = login.cookies[constants.OPS_COOKIE]
    assert TOKEN not in cookie
    async with httpx.AsyncClient(cookies={constants.OPS_COOKIE: value}) as browser:
        assert (await browser.get(url)).status_code == 200
        data = await browser.get(url + '/data')
        assert data.status_code == 200
        assert set(data.json()) >= {'summary', 'series', 'workers', 'dead_letters'}
    async with httpx.AsyncClient(cookies={constants.OPS_COOKIE: TOKEN}) as forger:
        assert (await forger.get(url + '/data')).status_code == 401


async def _until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        await asyncio.sleep(0.2)


@pytest.mark.timeout(90)
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f'needs {CHROMIUM}: apt-get install -y chromium')
async def test_ops_page_draws_live_charts_in_headless_chromium(ops: System, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    await ops.add_rule(TRIAGE)
    issues = [
        (await ops.sim.create_issue(project='PROJ', issuetype='Bug', summary=f's{n}', reporter=ALICE))[0]
        for n in range(3)
    ]
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / 'rulequeue'),
        'worker',
        env=ops.env(MAX_ATTEMPTS='1'),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def audited() -> bool:
            return len(await ops.audit()) == 3

        await _until(audited, 'three executions')
        ops.sim.fail_next(status=503, times=100, method='POST')
        doomed, _ = await ops.sim.create_issue(project='PROJ', issuetype='Bug', summary='dead', reporter=ALICE)

        async def dead_lettered() -> bool:
            return bool(await ops.pool.fetchval('SELECT count(*) FROM dead_letters'))

        await _until(dead_lettered, 'a dead letter')

        errors: list[str] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch_persistent_context(
                str(tmp_path / 'chromium-profile'),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={'width': 1280, 'height': 1000},
            )
            try:
                page = await browser.new_page()
                page.on('pageerror', lambda exc: errors.append(str(exc)))
                page.on('console', lambda msg: errors.append(msg.text) if msg.type == 'error' else None)
                await page.goto(f'{ops.url}/ops?token={TOKEN}')
                assert page.url == f'{ops.url}/ops'  # the token left the address bar
                # Two polls at least: every chart is a line through two or more points.
                drawn = "[...document.querySelectorAll('svg path.line')].filter(p => +p.dataset.points >= 2)"
                # A function, not an expression: the page's CSP forbids eval, which Playwright uses for those.
                await page.wait_for_function(f'() => {drawn}.length === 3', timeout=20_000)
                paths = await page.eval_on_selector_all('svg path.line', 'ps => ps.map(p => p.getAttribute("d"))')
                epm_now = await page.text_content('#epm-now')
                worker_cells = await page.eval_on_selector_all(
                    '#workers tbody td', 'tds => tds.map(t => t.textContent)'
                )
                letter_cells = await page.eval_on_selector_all(
                    '#dead-letters tbody td', 'tds => tds.map(t => t.textContent)'
                )
                ARTIFACTS.mkdir(exist_ok=True)
                screenshot = ARTIFACTS / 'ops-page.png'
                await page.screenshot(path=str(screenshot), full_page=True)
                print(f'screenshot of the ops page: {screenshot}')
            finally:
                await browser.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=30)

    assert errors == []
    assert len(paths) == 3
    for d in paths:
        assert d.startswith('M')
        assert d.count('L') >= 1
    assert epm_now == '4'  # three successes and one failure in the last minute
    assert str(worker.pid) in worker_cells
    assert doomed['key'] in letter_cells
    assert all(issue['key'] not in letter_cells for issue in issues)
