"""`hpcqctl config check FILE`: every error of a config file at once, not just the first.

Daemons stop at the first error (hpcq.config raises it); an administrator fixing a file
wants the whole list. The checks are hpcq.config's own: unknown sections and keys (with
the nearest valid name), wrong types, then impossible values.
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from hpcq import config as configuration
from hpcq.errors import ConfigError


def check(path: Path) -> list[str]:
    """Error messages for the config file at `path` ("FILE: [section] key: reason"); empty if it is valid."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return [f"{path}: no such file"]
    except OSError as e:
        return [f"{path}: {e.strerror}"]
    except tomllib.TOMLDecodeError as e:
        return [f"{path}: {e}"]
    origin = str(path)
    errors: list[str] = []
    valid: dict[str, dict[str, Any]] = {}
    defaults = configuration.Config()
    for section_name, values in data.items():
        if section_name not in configuration.SECTIONS:
            errors.append(f"{origin}: unknown section [{section_name}]"
                          f"{configuration._nearest(section_name, configuration.SECTIONS)}")
            continue
        if not isinstance(values, dict):
            errors.append(f"{origin}: {section_name} must be a table ([{section_name}])")
            continue
        fields = {f.name: f for f in dataclasses.fields(getattr(defaults, section_name))}
        for key, value in values.items():
            if key not in fields:
                errors.append(f"{origin}: unknown key [{section_name}] {key}{configuration._nearest(key, fields)}")
                continue
            try:
                value = configuration._coerce(value, fields[key].metadata["type"], f"{origin}: [{section_name}] {key}")
            except ConfigError as e:
                errors.append(str(e))
                continue
            valid.setdefault(section_name, {})[key] = value
    # Impossible values, all of them, among the keys that were well typed.
    checked = configuration.Config()
    for section_name, values in valid.items():
        for key, value in values.items():
            setattr(getattr(checked, section_name), key, value)
    return errors + configuration.value_errors(checked, origin)
