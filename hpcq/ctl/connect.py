"""How hpcqctl reaches ctld: with the administrator's own certificate, never through the
host agent (which speaks for ordinary users), and a plain word when that is not there."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client

NEEDS_ADMIN = "this needs an admin certificate ([client] cert and key of role admin or operator)"
GET_ONE = ("ask the cluster's administrator for one (`hpcqctl certs issue admin NAME`), or run `hpcqctl up` "
           "for a cluster of your own")


def admin_client() -> Client:
    """A client with the certificate of [client]; HpcqError UNAUTHENTICATED saying what is
    missing when there is none this user can read."""
    from hpcq import config as configuration
    from hpcq import pki
    from hpcq.client import Client
    from hpcq.errors import ConfigError, HpcqError

    try:
        config = configuration.load()
    except ConfigError as e:
        raise HpcqError("UNAUTHENTICATED", f"{NEEDS_ADMIN}: {e}; {GET_ONE}") from None
    missing = [key for key in ("ca", "cert", "key") if not getattr(config.client, key)]
    if missing:
        where = config.path or "no config file found (" + ", ".join(map(str, configuration.candidate_paths())) + ")"
        raise HpcqError("UNAUTHENTICATED", f"{NEEDS_ADMIN}: {where}: [client] {', '.join(missing)} not set; {GET_ONE}")
    try:
        return Client.from_config(config, use_agent=False)
    except pki.PkiError as e:
        raise HpcqError("UNAUTHENTICATED", f"{NEEDS_ADMIN}: {e}; {GET_ONE}") from None


def refusal_hint(code: str) -> str:
    """What to add to ctld's refusal of an hpcqctl call."""
    return f"; {NEEDS_ADMIN}" if code == "PERMISSION_DENIED" else ""
