"""Tokens, roles and the rate limiter (pure)."""

from __future__ import annotations

import pytest

from mirror.core.auth import (
    Action,
    RateLimiter,
    Role,
    allowed,
    hash_secret,
    new_session_secret,
    new_token,
    parse_session,
    parse_token,
    same_text,
    secret_matches,
)


def test_a_token_names_its_row_and_only_its_secrets_hash_is_kept() -> None:
    made = new_token()
    parsed = parse_token(made.text)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == made.key_id
    assert secret not in made.secret_sha256 and made.secret_sha256 == hash_secret(secret)
    assert secret_matches(secret, made.secret_sha256)
    assert not secret_matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), made.secret_sha256)
    assert new_token().text != made.text


@pytest.mark.parametrize("text", [
    "", "mirror_", "mirror_abc_def", "token", "Bearer x", "mirror_0123456789abcdef",
    "mirror_0123456789ABCDEF_" + "a" * 43,
    "mirror_0123456789abcdef_" + "a" * 42, "mirror_0123456789abcdef_" + "a" * 43 + "!", "x" * 10_000,
])
def test_malformed_tokens_are_refused_before_any_lookup(text: str) -> None:
    assert parse_token(text) is None


def test_session_cookies_have_their_own_shape() -> None:
    made = new_session_secret()
    assert parse_session(made.text) == (made.key_id, made.text.split(".")[1])
    assert parse_token(made.text) is None and parse_session(new_token().text) is None
    assert parse_session("a.b") is None


def test_reviewers_change_tiers_admins_also_lift_blocks_and_manage_tokens() -> None:
    for action in Action:
        assert allowed(Role.ADMIN, action)
    assert {a for a in Action if not allowed(Role.REVIEWER, a)} == {Action.UNBLOCK, Action.TOKENS}


def test_constant_time_text_comparison() -> None:
    assert same_text("abc", "abc") and not same_text("abc", "abd") and not same_text("", "abc")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_burst_then_refills_by_the_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(6, clock)
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    wait = limiter.take("a")
    assert wait == pytest.approx(10.0)  # 6 a minute: one every 10 s
    assert limiter.take("b") == 0.0  # other addresses have their own budget
    clock.now += 10.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(1, Clock(), capacity=100)
    for i in range(10_000):
        limiter.take(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter) == 100
