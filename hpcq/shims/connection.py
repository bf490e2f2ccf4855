"""A command's connection to its cluster, opened at its first call, so that --help,
--version and a refused argument list never load the client.

While ctld is unreachable (a restart, a failover) or overloaded, the client retries the
calls that are safe to repeat (hpcq.transport.Retrying); the command says so once on
stderr, in its dialect's words, and goes on: it fails only when the retries run out
([client] retry_seconds)."""
from __future__ import annotations

from hpcq.errors import HpcqError
from hpcq.shims.submit_context import short_hostname

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hpcq.client import Client

    # The line a command prints when its first retry starts.
    RetryNotice = Callable[[HpcqError, "Connection"], str]


def slurm_retry_notice(prog: str) -> RetryNotice:
    """Slurm's words: sbatch's own line while it retries a refused submit (EAGAIN), and
    the connect failure Slurm reports once its retries are over, said as retrying."""
    def notice(error: HpcqError, conn: Connection) -> str:
        if error.code == "RESOURCE_EXHAUSTED":
            return f"{prog}: error: Slurm temporarily unable to accept job, sleeping and retrying."
        return f"{prog}: error: Unable to contact slurm controller (connect failure), retrying"
    return notice


def pbs_retry_notice(prog: str) -> RetryNotice:
    """PBS's words for an unreachable server (pbs_connect), said as retrying."""
    def notice(error: HpcqError, conn: Connection) -> str:
        return f"{prog}: cannot connect to server {conn.cluster} (errno=15010), retrying"
    return notice


def open_client(on_retry: Callable[[HpcqError], None] | None = None) -> Client:
    """A client for the configured cluster. grpc is imported here, not before."""
    from hpcq.client import Client
    from hpcq.errors import ConfigError
    try:
        return Client.connect(on_retry=on_retry)
    except ConfigError as e:
        raise HpcqError("FAILED_PRECONDITION", str(e)) from None


class Connection:
    """The client of one command, opened at its first use; remembers the cluster name
    for messages that need it even when opening failed."""

    def __init__(self, retry_notice: RetryNotice | None = None) -> None:
        self._client: Client | None = None
        self._retry_notice = retry_notice

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = open_client(self._on_retry)
        return self._client

    @property
    def cluster(self) -> str:
        return (self._client.cluster if self._client else "") or short_hostname()

    def _on_retry(self, error: HpcqError) -> None:
        if self._retry_notice is not None:
            from hpcq.shims.output import print_error
            print_error(self._retry_notice(error, self))
