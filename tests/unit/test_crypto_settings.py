"""Encryption at rest and settings validation."""

from __future__ import annotations

import pytest

from rulequeue.crypto import Cipher, DecryptionError
from rulequeue.errors import ConfigurationError
from rulequeue.settings import load_settings

KEY_A = 'a' * 40
KEY_B = 'b' * 40


def test_round_trip_and_binding_to_tenant_and_purpose() -> None:
    cipher = Cipher([KEY_A])
    blob = cipher.encrypt(b'secret', purpose='shared-secret', tenant='t1')
    assert b'secret' not in blob
    assert cipher.decrypt(blob, purpose='shared-secret', tenant='t1') == b'secret'
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, purpose='shared-secret', tenant='t2')
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob, purpose='snapshot', tenant='t1')
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, purpose='shared-secret', tenant='t1')


def test_rotation_first_key_encrypts_all_decrypt() -> None:
    old = Cipher([KEY_A]).encrypt(b'x', purpose='p', tenant='t')
    rotated = Cipher([KEY_B, KEY_A])
    assert rotated.decrypt(old, purpose='p', tenant='t') == b'x'
    new = rotated.encrypt(b'y', purpose='p', tenant='t')
    with pytest.raises(DecryptionError, match='not configured'):
        Cipher([KEY_A]).decrypt(new, purpose='p', tenant='t')


BASE = {
    'database_url': 'postgresql://localhost/test',
    'redis_url': 'redis://localhost:6379/0',
    'app_base_url': 'https://app.example.com/',
    'secret_key': KEY_A,
}


def test_valid_settings_normalise_urls() -> None:
    settings = load_settings(**BASE)
    assert settings.app_base_url == 'https://app.example.com'
    assert settings.app_key == 'rulequeue'
    assert settings.secret_keys == [KEY_A]


@pytest.mark.parametrize(
    ('override', 'variable'),
    [
        ({'database_url': None}, 'DATABASE_URL is required'),
        ({'redis_url': 'http://nope'}, 'REDIS_URL'),
        ({'app_base_url': 'ftp://x'}, 'APP_BASE_URL'),
        ({'secret_key': 'short'}, 'SECRET_KEY'),
        ({'max_body_bytes': 0}, 'MAX_BODY_BYTES'),
    ],
)
def test_bad_settings_name_the_variable(
    override: dict[str, object], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ('DATABASE_URL', 'REDIS_URL', 'APP_BASE_URL', 'SECRET_KEY'):
        monkeypatch.delenv(name, raising=False)
    values = {k: v for k, v in {**BASE, **override}.items() if v is not None}
    with pytest.raises(ConfigurationError, match=variable) as info:
        load_settings(**values)
    assert 'short' not in str(info.value)  # never echo a secret value


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BASE.items():
        monkeypatch.setenv(name.upper(), value)
    monkeypatch.setenv('APP_KEY', 'my-app')
    assert load_settings().app_key == 'my-app'
