"""serialize.py writes --json as json-c and --yaml as libyaml do for Slurm 22.05 (the
captures' own text round-trips in tests/compat/test_slurm_dumps.py); here, the corners:
escapes, empty collections, and YAML scalars that need quoting or folding; and PyYAML's
own emitter (used where PyYAML has no libyaml) against libyaml."""
from __future__ import annotations

import io
import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcq.shims.slurm import serialize


def test_json_layout_and_escapes() -> None:
    text = serialize.to_json({"path": "/a/b", "name": "ünï \"q\"", "empty": [], "map": {}, "n": None,
                              "f": 32.0, "b": False, "i": -3})
    assert text == ('{\n  "path": "\\/a\\/b",\n  "name": "ünï \\"q\\"",\n  "empty": [\n  ],\n  "map": {\n  },\n'
                    '  "n": null,\n  "f": 32.0,\n  "b": false,\n  "i": -3\n}')
    assert json.loads(text)["path"] == "/a/b"


def test_yaml_tags_nulls_and_kept_empty_strings() -> None:
    text = serialize.to_yaml({"unset": "", "set": serialize.EMPTY, "none": None, "f": 1.5, "list": [], "s": "#1 x"})
    assert text == ("%YAML 1.1\n--- !!map\n!!str unset: !!null null\n!!str set: !!str\n!!str none: !!null null\n"
                    "!!str f: !!float 1.500000\n!!str list: !!seq []\n!!str s: !!str '#1 x'\n...\n")


def _libyaml(tree: object) -> str:
    emitter_class = getattr(getattr(yaml, "_yaml", None), "CEmitter", None)
    if emitter_class is None:
        pytest.skip("PyYAML without libyaml")
    events: list[object] = []
    serialize._yaml_events(tree, events)
    stream = io.StringIO()
    emitter = emitter_class(stream, width=80, allow_unicode=True)
    for event in [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=True, version=(1, 1)), *events,
                  yaml.DocumentEndEvent(explicit=True), yaml.StreamEndEvent()]:
        emitter.emit(event)
    return stream.getvalue()


# Printable characters of the BMP: the two emitters escape those beyond it, and break long
# double-quoted lines of control characters, differently (names and paths have neither).
bmp = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs", "Cc")), max_size=120)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), bmp,
                    st.sampled_from(["x: y", "- a", "#1 SMP", "null", "123", " lead", "trail ", "a'b", "N/A",
                                     "cpu=1,mem=24000M", "/scratch/x y", "long " * 30]))
trees = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
                                                                      inner, max_size=4)), max_leaves=20)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), trees, max_size=6))
def test_the_fallback_emitter_writes_what_libyaml_writes(tree: dict[str, object]) -> None:
    assert serialize.to_yaml(tree, libyaml=False) == _libyaml(tree)
