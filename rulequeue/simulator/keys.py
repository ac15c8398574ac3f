"""Jira's signing key for signed installs, and the install-keys service that publishes it.

Lifecycle calls are RS256 tokens whose ``kid`` names a public key the app fetches from the
install-keys service. A *rogue* key signs with the same ``kid`` but a different private key:
what an attacker who knows the kid could produce, which the app must refuse.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class InstallSigner:
    """An RSA 2048 key pair with a random ``kid``, made once per simulated site."""

    def __init__(self) -> None:
        self.kid = str(uuid.uuid4())
        self._key = _new_key()
        self._rogue: rsa.RSAPrivateKey | None = None
        public = self._key.public_key()
        self.public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        # The deprecated ``publicKey`` lifecycle field: base64 DER without PEM armour.
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key_base64 = base64.b64encode(der).decode()

    def sign(self, claims: Mapping[str, Any], *, rogue: bool = False, kid: str | None = None) -> str:
        """An RS256 token with this site's ``kid``; ``rogue`` signs with a key nobody publishes.

        ``kid`` overrides the header's key id (tests of hostile kids).
        """
        key = self._key
        if rogue:
            # Made on first use: most sites never need one, and key generation takes a while.
            if self._rogue is None:
                self._rogue = _new_key()
            key = self._rogue
        return jwt.encode(dict(claims), key, algorithm='RS256', headers={'kid': self.kid if kid is None else kid})

    async def endpoint(self, request: Request) -> Response:
        """``GET /connect-install-keys/{kid}``: the PEM public key, 404 for any other kid."""
        if request.path_params['kid'] != self.kid:
            return JSONResponse({'error': 'no such key'}, status_code=404)
        return PlainTextResponse(self.public_pem, media_type='application/x-pem-file')
