"""Message classes for the hpcq.api.lite modules, made straight in upb's pool.

A command such as sbatch must answer in a few tens of milliseconds. Importing a
protoc-generated _pb2 module costs ~19 ms of that on its own (`python -X importtime`,
2-core test machine): it loads descriptor_pool, python_message, text_format, the
decoders and well_known_types (calendar, datetime, typing), none of which a command uses
when upb, the C implementation, does the work. The hpcq.api.lite modules, which
scripts/genproto.py writes next to the _pb2 ones, instead add the same serialized
FileDescriptorProto to upb's default pool and make the classes with upb's MessageMeta,
as protobuf's builder does: ~3 ms, most of it loading upb itself.

They are the very classes of the _pb2 modules: upb keeps one class per message type,
and adding a file the pool already holds, the same to the byte, returns the one it has.
A process may import both kinds of module, in either order. Under another
implementation (PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python) the lite modules hand
out the _pb2 modules' classes.

A lite module makes its classes when a name in it is first asked for, not when it is
imported: the client imports admin_pb2 for its admin calls, and sbatch makes none.

The fast path leans on upb's private module (google._upb._message: its default pool,
MessageMeta and descriptors), which protobuf may change in any release. So it is
guarded, once per process, when the first class is wanted: it runs only under the
protobuf major it was checked against (SUPPORTED_PROTOBUF_MAJOR; pyproject.toml pins the
same range) with upb in use and the private names present, and the classes it makes
must serialize and parse before they are handed out. When any of that fails, the lite
modules take the _pb2 modules' classes instead: correct, ~19 ms slower to load.
HPCQ_PROTOLITE=pb2 in the environment forces that path (the tests run both);
`path()` says which one a process takes, `fallback_reason` why it fell back.
"""
from __future__ import annotations

import _thread
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

_WELL_KNOWN_TYPES = "google.protobuf.internal.well_known_types"

# The fast path leans on upb's internals as this major release of protobuf has them
# (tests/unit/test_protolite.py); under another one the _pb2 modules serve, slower but
# sure. A new major here fails test_startup_imports until it is checked and named.
SUPPORTED_PROTOBUF_MAJOR = "7."
FORCE_ENV = "HPCQ_PROTOLITE"     # "pb2": take the _pb2 modules' classes, never the fast path
_LOADING = _thread.RLock()   # one module's names appear at once, in every thread
_UNDECIDED = object()
_upb: Any = _UNDECIDED       # upb's _message module while the fast path holds, else None
fallback_reason: str | None = None    # why this process takes the _pb2 modules' classes


class LazyNames:
    """The __getattr__ of a lite module. The first name asked for has the module's
    dependencies make their classes, then the module all of its own, named as
    builder.py names them (a class upb made on its own, for a field, would take the
    name of whichever module asked); they go into the module, where later lookups find
    them without coming here."""

    def __init__(self, namespace: dict[str, Any], pb2_module: str, class_module: str, serialized: bytes,
                 dependencies: tuple[ModuleType, ...] = ()) -> None:
        self.namespace = namespace
        self.source = (pb2_module, class_module, serialized)
        self.dependencies = dependencies

    def __call__(self, name: str) -> object:
        if not name.startswith("__"):   # not for probes such as __path__ or __wrapped__
            self.load()
            if name in self.namespace:
                return self.namespace[name]
        raise AttributeError(f"module {self.namespace['__name__']!r} has no attribute {name!r}")

    def load(self) -> None:
        with _LOADING:
            if self.namespace.get("__getattr__") is not self:
                return
            for dependency in self.dependencies:
                loader = vars(dependency).get("__getattr__")
                if isinstance(loader, LazyNames):
                    loader.load()
            names = load(*self.source)
            self.namespace.update((name, names[name]) for name in self.namespace["__all__"])
            del self.namespace["__getattr__"]


def load(pb2_module: str, class_module: str, serialized: bytes) -> dict[str, object]:
    """The message classes, enum wrappers and enum values of one .proto file by name, as
    its _pb2 module `pb2_module` has them. `class_module` is the __module__ protoc gives
    the classes, `serialized` the file's FileDescriptorProto."""
    upb = _fast_path()
    if upb is not None:
        try:
            return _load_fast(upb, class_module, serialized)
        except Exception as e:  # noqa: BLE001 - whatever upb's internals now do, the _pb2 path is right
            _fall_back(f"the fast path failed on {class_module}: {type(e).__name__}: {e}")
    return vars(__import__(pb2_module, fromlist=["DESCRIPTOR"]))


def path() -> str:
    """"fast" or "pb2": where this process's lite modules take their classes from (decided
    on first use, and from then on for the life of the process)."""
    return "pb2" if _fast_path() is None else "fast"


def _fall_back(reason: str) -> None:
    global _upb, fallback_reason
    _upb, fallback_reason = None, reason


def _fast_path() -> Any:
    """upb's _message module while the fast path may be taken in this process, else None."""
    global _upb, fallback_reason
    if _upb is _UNDECIDED:
        with _LOADING:
            if _upb is _UNDECIDED:
                _upb, fallback_reason = _private_upb()
    return _upb


def _private_upb() -> tuple[ModuleType | None, str | None]:
    """(upb's _message module, None) when the fast path may be taken, else (None, why not).
    It may when upb is the implementation protobuf uses in this process (its
    api_implementation's rule: the environment's choice, else upb when it loads), in the
    major release checked, with the private names the fast path uses."""
    if os.environ.get(FORCE_ENV) == "pb2":
        return None, f"{FORCE_ENV}=pb2"
    import google.protobuf
    if not google.protobuf.__version__.startswith(SUPPORTED_PROTOBUF_MAJOR):
        return None, f"protobuf {google.protobuf.__version__}, not {SUPPORTED_PROTOBUF_MAJOR}x"
    chosen = sys.modules.get("google.protobuf.internal.api_implementation")
    if chosen is not None:
        kind, upb = chosen.Type(), getattr(chosen, "_c_module", None)
    else:
        kind, upb = os.environ.get("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "upb"), None
        if kind == "upb":
            try:
                from google._upb import _message as upb
            except ImportError as e:
                return None, f"upb does not load: {e}"
    if kind != "upb" or upb is None:
        return None, f"the {kind} implementation of protobuf, not upb"
    missing = [name for name in ("MessageMeta", "Message", "default_pool") if not hasattr(upb, name)]
    if missing or not hasattr(upb.default_pool, "AddSerializedFile"):
        return None, f"upb lacks {', '.join(missing) or 'default_pool.AddSerializedFile'}"
    return upb, None


def _load_fast(upb: ModuleType, class_module: str, serialized: bytes) -> dict[str, object]:
    from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

    file = upb.default_pool.AddSerializedFile(serialized)
    names: dict[str, object] = {}
    for name, enum in file.enum_types_by_name.items():
        names[name] = EnumTypeWrapper(enum)
        names.update((value.name, value.number) for value in enum.values)
    messages = file.message_types_by_name
    classes = _deferring_well_known_types(upb, lambda: {
        name: _message_class(upb.MessageMeta, descriptor, class_module, "") for name, descriptor in messages.items()})
    _check(upb, classes, messages)
    names.update(classes)
    return names


def _check(upb: ModuleType, classes: dict[str, Any], descriptors: Any) -> None:
    """Each class, nested ones too, is a upb message class of its type, and a message of
    the first serializes and parses (they are all made alike). Raises TypeError otherwise."""
    for name, descriptor in descriptors.items():
        cls = classes.get(name)
        if not isinstance(cls, upb.MessageMeta) or not issubclass(cls, upb.Message) or cls.DESCRIPTOR is not descriptor:
            raise TypeError(f"{descriptor.full_name}: the class made is not a upb message class of that type")
        _check(upb, vars(cls), descriptor.nested_types_by_name)
    if descriptors:
        first = classes[next(iter(descriptors))]
        empty = first()
        if type(empty).FromString(empty.SerializeToString()) != empty:
            raise TypeError(f"{first.DESCRIPTOR.full_name}: a message does not parse back")


def _message_class(meta: type, descriptor: Any, class_module: str, prefix: str) -> type:
    """The class of a message type and of its nested types, named as builder.py names
    them, so that the class is the same whichever module makes it first."""
    namespace: dict[str, object] = {
        name: _message_class(meta, nested, class_module, f"{prefix}{descriptor.name}.")
        for name, nested in descriptor.nested_types_by_name.items()}
    namespace.update(DESCRIPTOR=descriptor, __module__=class_module, __qualname__=prefix + descriptor.name)
    # No bases: upb chooses them (its Message, and a mixin for a well-known type).
    return meta(descriptor.name, (), namespace)


def _deferring_well_known_types(upb: ModuleType, make_classes: Callable[[], dict[str, type]]) -> dict[str, type]:
    """make_classes(), sparing upb's first class the import of well_known_types (~8 ms).

    When upb makes its first message class, it imports that module for WKTBASES, the
    mixins of google.protobuf.Timestamp, Any and the like, and keeps that dict for the
    life of the process. Before our first class, it is handed a dict of ours instead,
    which is filled from the real module when something imports that later. Nothing can
    make a well-known type's class before that import: every _pb2 module, the message
    factory and the descriptor pool load it through python_message.
    """
    if _WELL_KNOWN_TYPES in sys.modules or hasattr(upb, "__internal_wktbases"):
        return make_classes()
    bases: dict[str, type] = {}
    stand_in = type(sys)(_WELL_KNOWN_TYPES)
    stand_in.WKTBASES = bases  # type: ignore[attr-defined]
    sys.meta_path.insert(0, _FillOnImport(bases))
    sys.modules[_WELL_KNOWN_TYPES] = stand_in
    try:
        return make_classes()
    finally:
        del sys.modules[_WELL_KNOWN_TYPES]


class _FillOnImport:
    """A meta path finder that waits for the real well_known_types module to be
    imported, then copies its WKTBASES into the dict upb holds, and leaves."""

    def __init__(self, bases: dict[str, type]) -> None:
        self.bases = bases

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name != _WELL_KNOWN_TYPES:
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_fill(module: ModuleType) -> None:
            exec_module(module)
            self.bases.update(module.WKTBASES)

        spec.loader.exec_module = exec_and_fill  # type: ignore[method-assign]
        return spec
