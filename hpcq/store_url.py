"""The store's URL as it may be shown: in logs, errors, `hpcqctl config show`.

A PostgreSQL URL can carry a password (``postgresql+psycopg://hpcq:secret@db/hpcq``,
or ``?password=secret``); only the configuration file and the engine ever hold it. The
password is replaced by ``***`` as SQLAlchemy's ``render_as_string(hide_password=True)``
does, here without importing SQLAlchemy (hpcqctl shows a config without it), and also
in the query string, which SQLAlchemy leaves as it is.
"""
from __future__ import annotations

import re
import urllib.parse

HIDDEN = "***"

# SQLAlchemy's own URL grammar for the user part: name://user:password@…, the password
# running to the first "@" (a literal "@" in a password must be written %40).
_USERINFO = re.compile(r"^(?P<head>[\w+.-]+://[^:/]*:)(?P<password>[^@]*)(?=@)")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<password>[^&#]*)", re.IGNORECASE)


def shown(url: str) -> str:
    """`url` with any password replaced by ***."""
    url = _USERINFO.sub(lambda m: m["head"] + HIDDEN, url, count=1)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + HIDDEN, url)


def scrub(text: str, url: str) -> str:
    """`text` (an error message about `url`) with the URL's password, as written and
    decoded, replaced by ***: a driver's message may quote what it was given."""
    secrets = set()
    for m in (_USERINFO.match(url), *_QUERY_PASSWORD.finditer(url)):
        if m and m["password"]:
            secrets.update((m["password"], urllib.parse.unquote(m["password"]),
                            urllib.parse.unquote_plus(m["password"])))
    text = text.replace(url, shown(url))
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text
