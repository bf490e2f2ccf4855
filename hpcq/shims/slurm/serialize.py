"""``--json`` and ``--yaml`` text in the form Slurm 22.05's serializer plugins write it,
for the plain structures data_parser.py builds (dicts, lists, str, int, float, bool, None).

JSON (serializer/json, json-c pretty): two-space indentation, ``"key": value``, an empty
list as ``[`` and ``]`` on lines of their own, ``/`` escaped as ``\\/``, no newline at
the end. YAML (serializer/yaml, libyaml): ``%YAML 1.1``, every node explicitly tagged
(``!!str key: !!int 3``), an unset (empty) string as ``!!null null``, floats with six decimals,
empty collections in flow style, ``...`` at the end. The YAML events go through
libyaml's emitter (PyYAML's binding), as Slurm's do, or PyYAML's own where it has none.
"""
from __future__ import annotations

import io
import json

TYPE_CHECKING = False
if TYPE_CHECKING:                  # typing is not imported on a command's path
    from typing import Any

    Tree = dict[str, Any] | list[Any] | str | int | float | bool | None


class _KeptEmpty(str):
    """An empty string Slurm sets as such, not an unset one: YAML ``!!str`` with nothing
    after it instead of ``!!null null`` (sacct's ``constraints``, ``mcs.label``, ``wckey``)."""


EMPTY = _KeptEmpty("")


def _json_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False).replace("/", "\\/")


def _json(value: Any, indent: str, out: list[str]) -> None:
    inner = indent + "  "
    if isinstance(value, dict):
        out.append("{\n")
        for i, (key, item) in enumerate(value.items()):
            out.append(f"{inner}{_json_scalar(str(key))}: ")
            _json(item, inner, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append(f"{indent}}}")
    elif isinstance(value, list):
        out.append("[\n")
        for i, item in enumerate(value):
            out.append(inner)
            _json(item, inner, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append(f"{indent}]")
    else:
        out.append(_json_scalar(value))


def to_json(tree: Tree) -> str:
    out: list[str] = []
    _json(tree, "", out)
    return "".join(out)


_TAG = "tag:yaml.org,2002:"


def _yaml_events(value: Any, events: list[Any]) -> None:
    import yaml  # type: ignore[import-untyped, unused-ignore]
    if isinstance(value, dict):
        events.append(yaml.MappingStartEvent(None, _TAG + "map", False, flow_style=not value))
        for key, item in value.items():
            _yaml_events(str(key), events)
            _yaml_events(item, events)
        events.append(yaml.MappingEndEvent())
        return
    if isinstance(value, list):
        events.append(yaml.SequenceStartEvent(None, _TAG + "seq", False, flow_style=not value))
        for item in value:
            _yaml_events(item, events)
        events.append(yaml.SequenceEndEvent())
        return
    if value is None or (value == "" and not isinstance(value, _KeptEmpty)):
        tag, text = "null", "null"
    elif value is True or value is False:
        tag, text = "bool", "true" if value else "false"
    elif isinstance(value, int):
        tag, text = "int", str(value)
    elif isinstance(value, float):
        tag, text = "float", f"{value:f}"
    else:
        tag, text = "str", str(value)
    events.append(yaml.ScalarEvent(None, _TAG + tag, (False, False), text))


def _emitter(stream: io.StringIO, *, libyaml: bool = True) -> Any:
    """libyaml's own emitter, as Slurm's serializer/yaml uses, where PyYAML was built with
    it; else PyYAML's, told to choose scalar styles as libyaml does (they differ only for
    characters beyond the BMP, which libyaml escapes)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]
    c_emitter = getattr(getattr(yaml, "_yaml", None), "CEmitter", None) if libyaml else None
    if c_emitter is not None:
        return c_emitter(stream, width=80, allow_unicode=True)

    class TaggedEmitter(yaml.emitter.Emitter):  # type: ignore[misc]
        """libyaml writes a tagged scalar plain where plain is possible; PyYAML's emitter
        would quote every scalar whose tag is not implicit."""

        def choose_scalar_style(self) -> str:
            event: Any = getattr(self, "event")  # noqa: B009 (PyYAML sets it untyped)
            self.event = yaml.ScalarEvent(event.anchor, event.tag, (True, False), event.value)
            try:
                return str(super().choose_scalar_style())
            finally:
                self.event = event

    return TaggedEmitter(stream, width=80, allow_unicode=True)


def to_yaml(tree: Tree, *, libyaml: bool = True) -> str:
    import yaml  # type: ignore[import-untyped, unused-ignore]
    events: list[Any] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=True, version=(1, 1))]
    _yaml_events(tree, events)
    events += [yaml.DocumentEndEvent(explicit=True), yaml.StreamEndEvent()]
    stream = io.StringIO()
    emitter = _emitter(stream, libyaml=libyaml)
    for event in events:
        emitter.emit(event)
    return stream.getvalue()
