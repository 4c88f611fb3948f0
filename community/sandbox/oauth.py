"""OAuth2 authorization-code server for the Meetup and Eventbrite stand-ins.

The authorize page approves at once and redirects back with ``code`` and ``state``; the token
endpoint exchanges codes (single use) and, where the platform has it, rotates refresh tokens.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from litestar import Request, Response, get, post
from litestar.response import Redirect

CODE_TTL = 600.0


@dataclass
class _Code:
    redirect_uri: str
    expires: float


class OAuthServer:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refreshable: bool,
        expires_in: int | None,
        access_token: str,
        refresh_token: str | None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refreshable = refreshable
        self.expires_in = expires_in
        self._access: dict[str, float | None] = {}
        self._refresh: set[str] = set()
        self._codes: dict[str, _Code] = {}
        self._grant(access_token, refresh_token)

    def _grant(self, access: str, refresh: str | None) -> None:
        expires = time.monotonic() + self.expires_in if self.expires_in else None
        self._access[access] = expires
        if refresh and self.refreshable:
            self._refresh.add(refresh)

    def valid(self, token: str) -> bool:
        if token not in self._access:
            return False
        expires = self._access[token]
        return expires is None or time.monotonic() < expires

    def expire_access_tokens(self) -> None:
        """Every current access token stops working; refresh tokens still do."""
        self._access.clear()

    def handlers(self, authorize_path: str, token_path: str) -> list[Any]:
        server = self

        @get(authorize_path, sync_to_thread=False)
        def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
            query = request.query_params
            redirect_uri = query.get("redirect_uri") or ""
            if query.get("client_id") != server.client_id:
                return _json(
                    400, {"error": "invalid_client", "error_description": "Unknown client."}
                )
            if query.get("response_type") != "code" or not urlsplit(redirect_uri).scheme:
                return _json(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "Need response_type=code "
                        "and an absolute redirect_uri.",
                    },
                )
            code = secrets.token_urlsafe(16)
            server._codes[code] = _Code(redirect_uri, time.monotonic() + CODE_TTL)
            back = {"code": code}
            if query.get("state") is not None:
                back["state"] = query["state"]
            joiner = "&" if urlsplit(redirect_uri).query else "?"
            return Redirect(path=f"{redirect_uri}{joiner}{urlencode(back)}", status_code=302)

        @post(token_path, status_code=200)
        async def token(request: Request[Any, Any, Any]) -> Response[Any]:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            if (form.get("client_id"), form.get("client_secret")) != (
                server.client_id,
                server.client_secret,
            ):
                return _json(401, {"error": "invalid_client", "error_description": "Bad client."})
            grant = form.get("grant_type")
            if grant == "authorization_code":
                return server._exchange(form)
            if grant == "refresh_token" and server.refreshable:
                return server._rotate(form)
            return _json(400, {"error": "unsupported_grant_type", "error_description": str(grant)})

        return [authorize, token]

    def _exchange(self, form: dict[str, str]) -> Response[Any]:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or code.expires < time.monotonic():
            return _invalid_grant("Unknown, used or expired code.")
        if form.get("redirect_uri") != code.redirect_uri:
            return _invalid_grant("redirect_uri does not match the authorize request.")
        return self._issue()

    def _rotate(self, form: dict[str, str]) -> Response[Any]:
        refresh = form.get("refresh_token", "")
        if refresh not in self._refresh:
            return _invalid_grant("Unknown or already used refresh token.")
        self._refresh.discard(refresh)  # single use, as the real flow treats them
        return self._issue()

    def _issue(self) -> Response[Any]:
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24) if self.refreshable else None
        self._grant(access, refresh)
        body: dict[str, Any] = {"access_token": access, "token_type": "bearer"}
        if refresh:
            body["refresh_token"] = refresh
        if self.expires_in:
            body["expires_in"] = self.expires_in
        return _json(200, body)


def _invalid_grant(description: str) -> Response[Any]:
    return _json(400, {"error": "invalid_grant", "error_description": description})


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(content=body, status_code=status)


def bearer_token(headers: dict[str, str], query: str) -> str | None:
    """The token from ``Authorization: Bearer`` or, as Eventbrite also allows, ``?token=``."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    values = parse_qs(query).get("token")
    return values[0] if values else None
