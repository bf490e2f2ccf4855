"""hpcq.store_url: the store's URL as logs, errors and `hpcqctl config show` print it."""
from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from hpcq import store_url
from hpcq.ctld.store.writer import Store, StoreUnavailable

URLS = [
    "postgresql+psycopg://hpcq:S3cret@127.0.0.1:5432/hpcq",
    "postgresql+psycopg://hpcq:p%40ss%2Fw0rd@db.example.org/hpcq",
    "postgresql://a@b:S3cret@db/hpcq",
    "postgresql+psycopg://hpcq@db/hpcq",
    "postgresql://db:5432/hpcq",
    "sqlite:////var/lib/hpcq/hpcq.db",
    "",
]


@pytest.mark.parametrize("url", URLS)
def test_shown_hides_the_password_as_sqlalchemy_does(url):
    shown = store_url.shown(url)
    if url:
        parsed = make_url(url)
        assert make_url(shown).password == ("***" if parsed.password else None)
        assert make_url(shown)._replace(password=None) == parsed._replace(password=None)
    if "S3cret" in url or "w0rd" in url:
        assert "S3cret" not in shown and "w0rd" not in shown
    else:
        assert shown == url


def test_a_password_in_the_query_is_hidden_too():
    # psycopg takes ?password= as well; SQLAlchemy's own rendering shows it.
    assert store_url.shown("postgresql+psycopg://hpcq@db/hpcq?sslmode=require&password=S3cret") == \
        "postgresql+psycopg://hpcq@db/hpcq?sslmode=require&password=***"


def test_scrub_removes_the_password_as_written_and_decoded():
    url = "postgresql+psycopg://hpcq:p%40ss@db/hpcq"
    text = f"cannot connect to {url}: password 'p@ss' (p%40ss) rejected"
    assert store_url.scrub(text, url) == \
        "cannot connect to postgresql+psycopg://hpcq:***@db/hpcq: password '***' (***) rejected"


@pytest.mark.parametrize("url, why", [
    ("postgresql+psycopg://hpcq:S3cret@127.0.0.1:notaport/hpcq", "invalid literal for int()"),
    ("nosuchdialect://hpcq:S3cret@127.0.0.1/hpcq", "Can't load plugin"),
])
def test_a_store_that_cannot_be_made_says_so_without_the_password(url, why):
    with pytest.raises(StoreUnavailable) as e:
        Store(url)
    assert "S3cret" not in str(e.value) and why in str(e.value) and ":***@" in str(e.value)
