"""A command's connection to its cluster, opened at its first call, so that --help,
--version and a refused argument list never load the client."""
from __future__ import annotations

from hpcq.errors import HpcqError
from hpcq.shims.submit_context import short_hostname

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq.client import Client


def open_client() -> Client:
    """A client for the configured cluster. grpc is imported here, not before."""
    from hpcq.client import Client
    from hpcq.errors import ConfigError
    try:
        return Client.connect()
    except ConfigError as e:
        raise HpcqError("FAILED_PRECONDITION", str(e)) from None


class Connection:
    """The client of one command, opened at its first use; remembers the cluster name
    for messages that need it even when opening failed."""

    def __init__(self) -> None:
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = open_client()
        return self._client

    @property
    def cluster(self) -> str:
        return (self._client.cluster if self._client else "") or short_hostname()
