"""hpcq: a gRPC batch system that speaks PBS and Slurm.

The public SDK is what `__all__` names: `Client` and the typed views it answers with
(implemented in the private modules hpcq/_sdk.py and hpcq/_views.py), and `HpcqError`.
`hpcq.testing` starts a real local cluster for tests. Everything else is internal.

The names are imported when first asked for: the commands import small pieces of this
package, and must not pay for grpc or dataclasses at start-up.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["ActionResult", "Client", "HpcqError", "JobInfo", "JobState", "NodeInfo", "__version__"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq._sdk import Client
    from hpcq._views import ActionResult, JobInfo, JobState, NodeInfo
    from hpcq.errors import HpcqError

# public name -> the module that defines it
_HOMES = {"Client": "hpcq._sdk", "ActionResult": "hpcq._views", "JobInfo": "hpcq._views",
          "JobState": "hpcq._views", "NodeInfo": "hpcq._views", "HpcqError": "hpcq.errors"}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hpcq' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
