"""hpcq: a gRPC batch system that speaks PBS and Slurm.

The public SDK is `hpcq.Client`; it is imported lazily so that the shims, which
import small pieces of this package, do not pay for grpc at start-up.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Client", "HpcqError", "__version__"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hpcq.client import Client
    from hpcq.errors import HpcqError


def __getattr__(name: str) -> Any:
    if name == "Client":
        from hpcq.client import Client
        return Client
    if name == "HpcqError":
        from hpcq.errors import HpcqError
        return HpcqError
    raise AttributeError(f"module 'hpcq' has no attribute {name!r}")
