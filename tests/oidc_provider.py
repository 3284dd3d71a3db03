"""A small OpenID Connect provider for the tests, on a loopback port.

Authorization code flow with PKCE (S256) and client_secret_basic, RS256 ID tokens signed with
joserfc (authlib's JOSE implementation), discovery and JWKS. The person "signing in" at the
authorize endpoint is whoever the test puts in `next_user`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.servers import free_port, wait_for_port

CLIENT_ID = "fleetdeck-test"
CLIENT_SECRET = "s3cret-for-tests"


class Provider:
    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.next_user: dict[str, Any] = {"sub": "u-1", "preferred_username": "olga"}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tamper_nonce = False
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def discovery(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
            "nonce": q.get("nonce"),
            "user": dict(self.next_user),
        }
        target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        basic = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if basic != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = self.codes.pop(str(form.get("code")), None)  # each code works once
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        digest = hashlib.sha256(str(form.get("code_verifier")).encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "reason": "pkce"}, status_code=400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": "forged" if self.tamper_nonce else grant["nonce"],
            **grant["user"],
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        return JSONResponse(
            {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
             "expires_in": 300, "id_token": id_token}
        )  # fmt: skip

    async def jwks(self, _: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    port = free_port()
    provider = Provider(port)
    server = uvicorn.Server(
        uvicorn.Config(provider.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
