"""Reply addresses: short enough for an email local part, any case, unforgeable, expiring."""

from __future__ import annotations

import datetime as dt

import pytest

from pledgeflow.auth import reply_tokens
from pledgeflow.auth.tokens import TokenError

SECRET = b"reply-token-tests"
TODAY = dt.date(2027, 4, 28)


def test_a_token_round_trips_in_any_case_and_fits_a_local_part() -> None:
    token = reply_tokens.issue(SECRET, "PF-7K3M9QX", cycle=12, version=3, today=TODAY)
    address = reply_tokens.reply_address(token, "inbound.example.org")
    assert token == token.lower() and len(address.split("@")[0]) <= 64
    for variant in (token, token.upper(), token.swapcase()):
        claims = reply_tokens.verify(SECRET, variant, max_age_days=120, today=TODAY)
        assert (claims.pledge_id, claims.cycle, claims.version, claims.issued) == ("PF-7K3M9QX", 12, 3, TODAY)


def test_a_changed_character_or_another_secret_is_refused() -> None:
    token = reply_tokens.issue(SECRET, "PF-7K3M9QX", cycle=1, version=1, today=TODAY)
    tampered = token[:10] + ("a" if token[10] != "a" else "b") + token[11:]
    with pytest.raises(TokenError, match="invalid"):
        reply_tokens.verify(SECRET, tampered, max_age_days=120, today=TODAY)
    with pytest.raises(TokenError, match="invalid"):
        reply_tokens.verify(b"another-registry", token, max_age_days=120, today=TODAY)
    for garbage in ("", "abc", "!!!!", "a" * 58):
        with pytest.raises(TokenError, match="invalid"):
            reply_tokens.verify(SECRET, garbage, max_age_days=120, today=TODAY)


def test_a_token_expires_after_the_report_token_lifetime() -> None:
    token = reply_tokens.issue(SECRET, "PF-7K3M9QX", cycle=1, version=1, today=TODAY)
    assert reply_tokens.verify(SECRET, token, max_age_days=120, today=TODAY + dt.timedelta(days=120))
    with pytest.raises(TokenError, match="expired"):
        reply_tokens.verify(SECRET, token, max_age_days=120, today=TODAY + dt.timedelta(days=121))


def test_only_reply_addresses_of_our_domain_yield_a_token() -> None:
    assert reply_tokens.token_in("Reply+ABC@Inbound.Example.org", "inbound.example.org") == "ABC"
    assert reply_tokens.token_in("<reply+abc@inbound.example.org>", "inbound.example.org") == "abc"
    assert reply_tokens.token_in("reply+abc@elsewhere.example", "inbound.example.org") is None
    assert reply_tokens.token_in("amina@inbound.example.org", "inbound.example.org") is None
