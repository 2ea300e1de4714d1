"""The form of API tokens and the digests kept for random secrets (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from governance.accounts.tokens import (
    digest,
    digest_matches,
    new_token,
    parse_token,
    token_string,
)


def test_a_token_is_lmis_id_secret_and_parses_back() -> None:
    parts = new_token()
    token = token_string(parts)
    prefix, token_id, _ = token.split("_", 2)
    assert (prefix, token_id) == ("lmis", parts.id)
    assert len(parts.id) == 12 and int(parts.id, 16) >= 0
    assert len(parts.secret) >= 43  # 32 random bytes
    assert parse_token(token) == parts
    assert parse_token(f"  {token}\n") == parts


def test_the_secret_stays_out_of_repr() -> None:
    parts = new_token()
    assert parts.secret not in repr(parts) and parts.id in repr(parts)


def test_malformed_tokens_do_not_parse() -> None:
    good = token_string(new_token())
    for bad in (
        "",
        "lmis_",
        good.replace("lmis_", "lmiz_", 1),
        good[:20],
        good.upper(),
        "lmis_0123456789ab_short",
        f"Bearer {good}",
    ):
        assert parse_token(bad) is None, bad


@given(st.text(max_size=100))
def test_no_text_breaks_the_parser(text: str) -> None:
    parts = parse_token(text)
    assert parts is None or token_string(parts) == text.strip()


def test_digests_match_only_their_secret() -> None:
    a, b = new_token().secret, new_token().secret
    assert digest_matches(a, digest(a))
    assert not digest_matches(b, digest(a))
    assert a not in digest(a) and len(digest(a)) == 64
