"""Regular expressions compiled when first used.

Importing `re` (with the enum module it loads) and compiling a module's patterns cost a
command ~3 ms at start-up, and most runs never parse a time, a size or a host list
(`sbatch --wrap`, `qsub` of a script without directives). The parsers keep their
patterns as Pattern objects instead; flags go inline: ``(?a)``, ``(?i)``, ``(?x)``.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re


class Pattern:
    __slots__ = ("source", "_compiled")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            import re

            self._compiled = re.compile(self.source)
        return self._compiled

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.compiled().fullmatch(text)

    def match(self, text: str) -> re.Match[str] | None:
        return self.compiled().match(text)
