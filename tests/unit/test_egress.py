"""Which addresses and hosts a web_request may reach (worker/egress.py, worker/web_request.py)."""

from __future__ import annotations

import ipaddress

import pytest

from worker.egress import address_allowed
from worker.web_request import host_allowed


@pytest.mark.parametrize(
    ('address', 'allowed'),
    [
        ('93.184.215.14', True),
        ('2606:4700::6810:85e5', True),
        ('127.0.0.1', False),
        ('127.10.0.1', False),
        ('::1', False),
        ('10.1.2.3', False),
        ('172.16.0.1', False),
        ('192.168.1.1', False),
        ('169.254.169.254', False),  # cloud metadata
        ('fe80::1', False),
        ('fc00::1', False),
        ('100.64.0.1', False),  # carrier-grade NAT
        ('0.0.0.0', False),
        ('::', False),
        ('224.0.0.1', False),
        ('255.255.255.255', False),
        ('198.18.0.1', False),  # benchmarking
        ('::ffff:127.0.0.1', False),  # IPv4-mapped loopback
        ('::ffff:93.184.215.14', True),
    ],
)
def test_only_public_unicast_addresses(address: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address)) is allowed


def test_operator_allowed_networks_are_the_only_exception() -> None:
    extra = [ipaddress.ip_network('10.20.0.0/16')]
    assert address_allowed(ipaddress.ip_address('10.20.3.4'), extra)
    assert not address_allowed(ipaddress.ip_address('10.21.3.4'), extra)
    assert not address_allowed(ipaddress.ip_address('127.0.0.1'), extra)


@pytest.mark.parametrize(
    ('host', 'patterns', 'allowed'),
    [
        ('api.example.com', ['api.example.com'], True),
        ('API.Example.com.', ['api.example.com'], True),
        ('other.example.com', ['api.example.com'], False),
        ('a.example.com', ['*.example.com'], True),
        ('a.b.example.com', ['*.example.com'], True),
        ('example.com', ['*.example.com'], False),
        ('evil-example.com', ['*.example.com'], False),
        ('example.com.evil.org', ['example.com'], False),
        ('api.example.com', [], False),
    ],
)
def test_host_allow_list(host: str, patterns: list[str], allowed: bool) -> None:
    assert host_allowed(host, patterns) is allowed
