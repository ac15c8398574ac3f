"""Authenticated encryption of tenant shared secrets and issue snapshots at rest.

AES-256-GCM with a key derived from each ``SECRET_KEY`` by HKDF. The associated data binds a
ciphertext to its purpose and its tenant, so a stored secret cannot be moved to another
tenant's row, nor a snapshot decrypted as a secret. Several keys may be configured: the first
encrypts, all decrypt (the 4-byte key id in the header picks the key), which is how keys
rotate.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rulequeue.errors import RulequeueError

_VERSION = b'\x01'
_NONCE_BYTES = 12
_KEY_ID_BYTES = 4


class DecryptionError(RulequeueError):
    """The ciphertext was tampered with, bound to another tenant, or made with an unknown key."""


class Cipher:
    """Encrypts and decrypts small blobs; one instance per process, built from settings."""

    def __init__(self, secret_keys: list[str]) -> None:
        if not secret_keys:
            raise ValueError('at least one key is required')
        self._keys: dict[bytes, AESGCM] = {}
        self._current = b''
        for index, secret in enumerate(secret_keys):
            key_id = hashlib.sha256(b'rulequeue-key-id\0' + secret.encode()).digest()[:_KEY_ID_BYTES]
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b'rulequeue-at-rest-v1').derive(
                secret.encode()
            )
            self._keys[key_id] = AESGCM(derived)
            if index == 0:
                self._current = key_id

    def encrypt(self, plaintext: bytes, *, purpose: str, tenant: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, _aad(purpose, tenant))
        return _VERSION + self._current + nonce + sealed

    def decrypt(self, blob: bytes, *, purpose: str, tenant: str) -> bytes:
        header = 1 + _KEY_ID_BYTES
        if len(blob) < header + _NONCE_BYTES or blob[:1] != _VERSION:
            raise DecryptionError('not a rulequeue ciphertext')
        aes = self._keys.get(blob[1:header])
        if aes is None:
            raise DecryptionError('encrypted with a key that is not configured')
        nonce, sealed = blob[header : header + _NONCE_BYTES], blob[header + _NONCE_BYTES :]
        try:
            return aes.decrypt(nonce, sealed, _aad(purpose, tenant))
        except InvalidTag:
            raise DecryptionError('ciphertext does not authenticate') from None


def _aad(purpose: str, tenant: str) -> bytes:
    return f'{purpose}\0{tenant}'.encode()
