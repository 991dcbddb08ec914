"""Who is calling: API keys and OpenID Connect tokens, the caller's tenant and role (docs/design.md, section 9).

Every route but /healthz, /readyz and the docs depends on `Viewer`, `Planner` or `Admin`: the caller is
identified (401 without a valid credential), then its role is checked (403 for a role below the route's).
The tenant it carries goes to the repository functions, which scope every query by it (storage/repo.py).

API keys are random (256 bits) and stored only as HMAC-SHA-256 under a server secret: a key that long cannot
be guessed, so a slow password hash (argon2, bcrypt) would add nothing but CPU on every request, while the
keyed hash means the key table alone (a leaked backup without the secret) does not even let anyone test a
guessed key. The secret is VMO_KEY_SECRET, or one generated and stored in the database on first use.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.settings import ApiSettings
from models.auth import DEFAULT_TENANT, Role
from storage import repo
from storage.db import Database
from storage.tables import ApiKeyRow

log = logging.getLogger("vmo.auth")

KEY_PREFIX = "vmo_"
SECRET_NAME = "api_key_hmac"
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ANONYMOUS = "anonymous"


class Unauthorized(Exception):
    """No credential, or one that is not valid (401)."""


class Forbidden(Exception):
    """A valid caller whose role may not do this (403)."""


class IdentityProviderUnavailable(Exception):
    """The OpenID Connect issuer's keys cannot be fetched (503)."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the tenant whose records it sees, what it may do, and how the audit log names it."""

    tenant: str
    role: Role
    actor: str


def new_key() -> str:
    """A new API key: 'vmo_' and 43 URL-safe characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyHasher:
    """HMAC-SHA-256 of keys under the server secret (VMO_KEY_SECRET, or the one stored in the database)."""

    def __init__(self, db: Database, secret: str | None):
        self.db = db
        self._secret = secret.encode() if secret else None
        self._lock = threading.Lock()

    def secret(self) -> bytes:
        with self._lock:
            if self._secret is None:
                with self.db.session() as session:
                    stored = repo.server_secret(session, SECRET_NAME, lambda: secrets.token_urlsafe(48))
                self._secret = stored.encode()
            return self._secret

    def digest(self, key: str) -> str:
        return hmac.new(self.secret(), key.encode(), hashlib.sha256).hexdigest()


def hasher_for(db: Database, settings: ApiSettings) -> KeyHasher:
    secret = settings.key_secret.get_secret_value() if settings.key_secret is not None else None
    return KeyHasher(db, secret)


def create_key(
    db: Database, hasher: KeyHasher, tenant: str, role: Role, actor: str, name: str | None = None
) -> tuple[ApiKeyRow, str]:
    """A new key of `tenant` (created when new) and its row; the key is returned this once, never stored.
    The creation is audited in the same transaction."""
    key = new_key()
    digest = hasher.digest(key)
    with db.session() as session:
        row = repo.add_key(session, tenant, role, digest, name)
        repo.audit(session, tenant, actor, "key.create", row.id, {"role": role.value, "name": name})
    return row, key


class OidcVerifier:
    """Checks OpenID Connect bearer tokens (JWTs) against the issuer's JWKS (fetched once, then cached)."""

    def __init__(self, settings: ApiSettings):
        assert settings.oidc_issuer is not None
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.algorithms = settings.oidc_algorithms
        self.tenant_claim = settings.oidc_tenant_claim
        self.role_claim = settings.oidc_role_claim
        self._jwks_url = settings.oidc_jwks_url
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                self._client = jwt.PyJWKClient(self._jwks_url or self._discover(), cache_keys=True, lifespan=300)
            return self._client

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=10)
            response.raise_for_status()
            return str(response.json()["jwks_uri"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise IdentityProviderUnavailable(f"the OpenID Connect issuer's configuration ({url}): {exc}") from None

    def verify(self, token: str) -> Caller:
        try:
            key = self.client().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderUnavailable(f"the OpenID Connect issuer's keys cannot be fetched: {exc}") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the bearer token is not valid: {exc}") from None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "sub"], "verify_aud": self.audience is not None},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the bearer token is not valid: {exc}") from None
        tenant = claims.get(self.tenant_claim)
        if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
            raise Unauthorized(f"the bearer token names no valid tenant in its {self.tenant_claim!r} claim")
        return Caller(tenant, self._role(claims.get(self.role_claim)), f"oidc:{str(claims['sub'])[:180]}")

    def _role(self, claim: Any) -> Role:
        """The role claim: one role, or a list of them (the highest known one counts)."""
        names = [claim] if isinstance(claim, str) else claim if isinstance(claim, list) else []
        roles = [Role(name) for name in names if isinstance(name, str) and name in Role._value2member_map_]
        if not roles:
            claim = self.role_claim
            raise Unauthorized(f"the bearer token names no role (viewer, planner, admin) in its {claim!r} claim")
        return max(roles, key=lambda r: r.rank)


class Authenticator:
    """Turns a request's credential into a Caller."""

    def __init__(self, settings: ApiSettings, db: Database):
        self.enabled = settings.auth == "on"
        self.db = db
        self.hasher = hasher_for(db, settings)
        self.oidc = OidcVerifier(settings) if settings.oidc_issuer else None
        self._tenants: set[str] = set()

    def identify(self, credential: str | None) -> Caller:
        if not self.enabled:
            return Caller(DEFAULT_TENANT, Role.ADMIN, ANONYMOUS)
        if not credential:
            raise Unauthorized("this needs a credential: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        if self.oidc is not None and not credential.startswith(KEY_PREFIX) and credential.count(".") == 2:
            caller = self.oidc.verify(credential)
            self._known_tenant(caller.tenant)
            return caller
        return self._key(credential)

    def _key(self, key: str) -> Caller:
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            raise Unauthorized("the API key is not valid")
        digest = self.hasher.digest(key)
        with self.db.reading() as session:
            row = repo.key_by_digest(session, digest)
            if row is None:
                raise Unauthorized("the API key is not valid (unknown or revoked)")
            return Caller(row.tenant_id, Role(row.role), f"key:{row.id}")

    def _known_tenant(self, tenant: str) -> None:
        """A tenant first seen in a token gets its row (records name their tenant by a foreign key)."""
        if tenant not in self._tenants:
            with self.db.session() as session:
                repo.ensure_tenant(session, tenant)
            self._tenants.add(tenant)


_bearer = HTTPBearer(auto_error=False, description="An API key (`vmo keys create`) or an OpenID Connect token.")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (`vmo keys create`).")


def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Caller:
    """The caller of this request (a sync dependency: its database read runs in the thread pool). The two
    security parameters put both ways of sending a key into the OpenAPI document."""
    return identify(request)


def identify(request: Request) -> Caller:
    """The request's caller, identified once per request (a parsed route does it before reading the body)."""
    known = getattr(request.state, "caller", None)
    if known is not None:
        return known
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credential = credentials.strip() if scheme.lower() == "bearer" else None
    who = request.app.state.auth.identify(credential or request.headers.get("x-api-key"))
    request.state.caller = who
    return who


def require(role: Role):
    def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not who.role.allows(role):
            raise Forbidden(f"this needs the {role} role; the caller's role is {who.role}")
        return who

    check.__name__ = f"require_{role}"
    return check


Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]
Planner = Annotated[Caller, Depends(require(Role.PLANNER))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
