"""Tokens, roles and rate limits of the admin API and the browser UI. Pure (no I/O besides the OS's random bytes).

A token reads ``mirror_<key id>_<secret>``. The key id is public: it names the stored row, so checking a token
hashes its secret once and compares that with the one stored hash in constant time (:func:`secret_matches`);
only the sha256 of the secret is ever stored. Secrets are 256 random bits, so a plain sha256 is enough (no
password stretching is needed for a value nobody can guess).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from mirror.core.errors import MirrorError
from mirror.core.lru import LRU

TOKEN_PREFIX = "mirror_"
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
#: What a token's name (the actor in the audit log) may look like.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


class TokenError(MirrorError):
    """A token cannot be created or revoked as asked (a bad name, role or expiry; no such token)."""


class Role(enum.StrEnum):
    """What a token may do: a reviewer changes the tiers; an admin also lifts blocks and manages tokens."""

    REVIEWER = "reviewer"
    ADMIN = "admin"


class Action(enum.StrEnum):
    """Everything the admin API does, each checked against the caller's role by :func:`allowed`."""

    READ = "read"
    PROMOTE = "promote"
    DEMOTE = "demote"
    VET = "vet"
    UNVET = "unvet"
    BLOCK = "block"
    UNBLOCK = "unblock"
    TOKENS = "tokens"


#: Lifting a block can let a malicious release back into every tier, and tokens grant these powers: both
#: need an admin. Everything else a reviewer may do.
ADMIN_ONLY = frozenset({Action.UNBLOCK, Action.TOKENS})


def allowed(role: Role, action: Action) -> bool:
    """Whether a token of ``role`` may do ``action``."""
    return role is Role.ADMIN or action not in ADMIN_ONLY


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A freshly made credential: ``text`` is shown once; only ``key_id`` and ``secret_sha256`` are stored."""

    text: str
    key_id: str
    secret_sha256: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> NewSecret:
    """A new API token ``mirror_<16 hex>_<43 url-safe characters>``."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return NewSecret(f"{TOKEN_PREFIX}{key_id}_{secret}", key_id, hash_secret(secret))


def new_session_secret() -> NewSecret:
    """A new browser session credential ``<16 hex>.<43 url-safe characters>`` (the cookie's value)."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return NewSecret(f"{key_id}.{secret}", key_id, hash_secret(secret))


def parse_token(text: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a token's text, or None when it is not shaped like one of ours."""
    text = text.strip()
    if not text.startswith(TOKEN_PREFIX):
        return None
    key_id, sep, secret = text[len(TOKEN_PREFIX):].partition("_")
    if not sep or not _KEY_ID.match(key_id) or not _SECRET.match(secret):
        return None
    return key_id, secret


def parse_session(text: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a session cookie's value, or None."""
    key_id, sep, secret = text.strip().partition(".")
    if not sep or not _KEY_ID.match(key_id) or not _SECRET.match(secret):
        return None
    return key_id, secret


def secret_matches(secret: str, stored_sha256: str) -> bool:
    """Whether ``secret`` hashes to ``stored_sha256``, compared in constant time."""
    return hmac.compare_digest(hash_secret(secret).encode(), stored_sha256.encode())


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of two strings (CSRF tokens)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """At most ``per_minute`` events per key and minute, with bursts of up to ``per_minute`` (a token bucket
    refilled continuously). Keys (client addresses) are kept in an LRU of ``capacity`` entries, so a flood of
    addresses cannot grow memory: a key pushed out starts again with a full bucket."""

    def __init__(self, per_minute: int, clock: Callable[[], float], capacity: int = 10_000) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: LRU[str, _Bucket] = LRU(capacity)

    def take(self, key: str) -> float:
        """Count one event of ``key``: 0.0 when allowed, else the seconds until one would be."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.per_minute), now)
            self._buckets[key] = bucket
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def __len__(self) -> int:
        return len(self._buckets)
