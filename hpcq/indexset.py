"""Array task indices as Slurm and PBS write them, kept compact: the one parser of
``1-10``, ``1-99:2``, ``1,4,7-9`` in hpcq.

A 100,000-task array that nobody has touched is one range, `1-100000`; starting tasks
takes them from the front, so the rest stays one range. Indices are stored as (first,
last, step) runs: what Slurm prints (`3-10`, `1-99:2`) and what PBS accepts (`-J
1-100:2`). ctld keeps an array's pending rest in this form; the shims read it back
(hpcq/shims/arrays.py), and the job environment takes its range from it.

A plain class rather than a dataclass: the shims import this module at start-up, where
`dataclasses` would cost several milliseconds (tests/unit/test_startup_imports.py).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

Run = tuple[int, int, int]   # first, last (inclusive), step
# The most indices parse() lists to merge a text's parts (some milliseconds of ctld's loop).
MAX_LISTED = 100_000


def _run(first: int, last: int, step: int) -> Run:
    """One spelling per run, so equal sets compare equal: a single index has step 1."""
    return (first, last, step if first != last else 1)


def _first(run: Run) -> int:
    return run[0]


class IndexSet:
    """Ascending, distinct array task indices as runs of (first, last, step). Immutable
    and hashable, as a frozen dataclass would be."""
    __slots__ = ("runs",)
    runs: tuple[Run, ...]

    def __init__(self, runs: tuple[Run, ...] = ()) -> None:
        object.__setattr__(self, "runs", runs)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"IndexSet is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"IndexSet is immutable: cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[IndexSet], tuple[tuple[Run, ...]]]:
        return IndexSet, (self.runs,)

    def __eq__(self, other: object) -> bool:
        if type(other) is not IndexSet:
            return NotImplemented
        return self.runs == other.runs   # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.runs)

    def __repr__(self) -> str:
        return f"IndexSet(runs={self.runs!r})"

    @classmethod
    def of(cls, indices: Iterable[int]) -> IndexSet:
        """Compress any indices (unsorted, repeated) into runs."""
        values = sorted(set(indices))
        runs: list[Run] = []
        i = 0
        while i < len(values):
            first = values[i]
            if i + 1 == len(values):
                runs.append((first, first, 1))
                break
            step = values[i + 1] - first
            j = i + 1
            while j + 1 < len(values) and values[j + 1] - values[j] == step:
                j += 1
            if j == i + 1 and step != 1 and j + 1 < len(values):
                # Two points with a gap and more to come: let the second start its own run.
                runs.append((first, first, 1))
                i += 1
                continue
            runs.append((first, values[j], step))
            i = j + 1
        return cls(tuple(runs))

    @classmethod
    def range(cls, first: int, last: int, step: int = 1) -> IndexSet:
        if last < first:
            return cls()
        return cls((_run(first, first + (last - first) // step * step, step),))

    @classmethod
    def parse(cls, text: str) -> IndexSet:
        """`1-10`, `1-99:2`, `1,4,7-9` (Slurm --array and PBS -J, without the %throttle).
        Raises ValueError naming the part that is not an index or a range."""
        indices: list[Run] = []
        for part in text.split(","):
            part = part.strip()
            try:
                span, _, step_text = part.partition(":")
                first_text, dash, last_text = span.partition("-")
                first = int(first_text)
                last = int(last_text) if dash else first
                step = int(step_text) if step_text else 1
            except ValueError:
                raise ValueError(f"array indices {text!r}: {part!r} is not N, N-M or N-M:S") from None
            if first < 0 or last < first or step < 1:
                raise ValueError(f"array indices {text!r}: {part!r} is empty or negative")
            indices.append(_run(first, first + (last - first) // step * step, step))
        if len(indices) == 1:
            return cls(tuple(indices))
        # Several parts are merged by listing their indices, which `0-4294967295,5` made 4 billion
        # (ctld's memory and minutes of its loop, for one submit): parts too many to list are
        # kept as they are when they do not overlap, and refused when they do.
        if sum((last - first) // step + 1 for first, last, step in indices) > MAX_LISTED:
            runs = sorted(indices)
            if any(runs[n][1] >= runs[n + 1][0] for n in range(len(runs) - 1)):
                raise ValueError(f"array indices {text!r}: parts that overlap, with more than {MAX_LISTED} indices")
            return cls(tuple(runs))
        return cls.of(i for first, last, step in indices for i in range(first, last + 1, step))

    def __len__(self) -> int:
        return sum((last - first) // step + 1 for first, last, step in self.runs)

    def __bool__(self) -> bool:
        return bool(self.runs)

    def __iter__(self) -> Iterator[int]:
        for first, last, step in self.runs:
            yield from range(first, last + 1, step)

    def __contains__(self, index: object) -> bool:
        from bisect import bisect_right  # here: ctld's, not the shims' start-up cost
        # The runs ascend and do not overlap: only the last one starting at or before index may hold it.
        if not isinstance(index, int):
            return False
        n = bisect_right(self.runs, index, key=_first) - 1
        if n < 0:
            return False
        first, last, step = self.runs[n]
        return index <= last and (index - first) % step == 0

    def first(self) -> int:
        return self.runs[0][0]

    def last(self) -> int:
        return self.runs[-1][1]

    def pop_first(self) -> tuple[int, IndexSet]:
        """The lowest index and the rest, in O(1) for the usual single run."""
        first, last, step = self.runs[0]
        head = _run(first + step, last, step)
        rest = ((head,) if first + step <= last else ()) + self.runs[1:]
        return first, IndexSet(rest)

    def without(self, indices: Iterable[int]) -> IndexSet:
        """The set less some indices (the tasks that started), splitting runs, never expanding them."""
        from bisect import bisect_left, bisect_right  # here: ctld's, not the shims' start-up cost
        gone = sorted(set(indices))
        if not gone:
            return self
        runs: list[Run] = []
        for first, last, step in self.runs:
            lo = bisect_left(gone, first)
            hi = bisect_right(gone, last)
            for i in gone[lo:hi]:
                if (i - first) % step:
                    continue
                if i > first:
                    runs.append(_run(first, i - step, step))
                first = i + step
            if first <= last:
                runs.append(_run(first, last, step))
        return IndexSet(tuple(runs))

    def __str__(self) -> str:
        return ",".join(str(first) if first == last else f"{first}-{last}" if step == 1 else f"{first}-{last}:{step}"
                        for first, last, step in self.runs)
