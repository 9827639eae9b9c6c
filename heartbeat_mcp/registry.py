"""The set of tasks an engine knows, and how people name them.

People say "market intelligence", "stale property monitoring" or
"stale_properties"; `resolve` turns any of these into task names, and an
unknown or ambiguous phrase into an error that offers the closest names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from heartbeat_mcp.task import TaskSpec

# Words that say nothing about which task is meant.
_FILLER = frozenset(
    "a an the all my our of for on in to and please heartbeat check checks checking task tasks "
    "monitoring monitor group job jobs alert alerts scan scans".split()
)


class TargetError(ValueError):
    """A phrase that names no task, or more than one group of tasks."""

    def __init__(self, message: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.suggestions = suggestions


@dataclass(frozen=True)
class Target:
    """What a phrase resolved to: one task, one group, or the whole engine."""

    kind: str  # "engine" | "group" | "task"
    name: str  # "" for the engine
    tasks: tuple[str, ...]

    @property
    def spoken(self) -> str:
        if self.kind == "engine":
            return "the heartbeat"
        if self.kind == "group":
            return f"{self.name.lower()} checks"
        return spoken_task(self.name)


def spoken_task(name: str) -> str:
    return name.replace("_", " ")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower().replace("_", " ")) if w not in _FILLER}


class Registry:
    """Registered tasks, kept in registration order."""

    def __init__(self, specs: Iterable[TaskSpec] = ()) -> None:
        self._specs: dict[str, TaskSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: TaskSpec) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", spec.name):
            raise ValueError(f"task name {spec.name!r}: use lower case letters, digits and underscores")
        if spec.name in self._specs:
            raise ValueError(f"task {spec.name!r} is registered twice")
        self._specs[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, name: str) -> TaskSpec:
        return self._specs[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def groups(self, group_of: dict[str, str] | None = None) -> dict[str, tuple[str, ...]]:
        """Tasks by group, using the effective group names when given."""
        groups: dict[str, list[str]] = {}
        for spec in self._specs.values():
            group = (group_of or {}).get(spec.name, spec.group)
            groups.setdefault(group, []).append(spec.name)
        return {group: tuple(names) for group, names in groups.items()}

    def ordered(self, names: Iterable[str]) -> list[str]:
        """The names in an order where every task comes after the tasks it declares `after`."""
        wanted = set(names)
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in ordered or name not in wanted:
                return
            if name in visiting:
                raise ValueError(f"tasks form a cycle through {name!r}")
            visiting.add(name)
            for before in self._specs[name].after:
                visit(before)
            visiting.discard(name)
            ordered.append(name)

        for name in self._specs:
            visit(name)
        return ordered

    def resolve(
        self,
        phrase: str | None,
        *,
        group_of: dict[str, str] | None = None,
        descriptions: dict[str, str] | None = None,
    ) -> Target:
        """Turn what a person said into tasks.

        Order of preference: nothing (the engine), an exact task name, a group
        whose name holds every word said, then tasks whose name or checklist
        line holds every word said.
        """
        if phrase is None or not phrase.strip() or _words(phrase) <= {"everything", "engine", "system", "whole"}:
            return Target("engine", "", self.names)
        groups = self.groups(group_of)
        key = re.sub(r"[\s\-]+", "_", phrase.strip().lower())
        if key in self._specs:
            return Target("task", key, (key,))
        said = _words(phrase)
        if not said:
            raise TargetError(f"'{phrase}' does not name a task.", self._closest(phrase, groups))
        group_hits = [g for g in groups if said <= _words(g)]
        if len(group_hits) == 1:
            return Target("group", group_hits[0], groups[group_hits[0]])
        descriptions = descriptions or {}
        by_name = [n for n in self._specs if said <= _words(n)]
        by_line = [n for n in self._specs if said <= _words(n) | _words(descriptions.get(n, self._specs[n].description))]
        for hits in (by_name, by_line):
            if len(hits) == 1:
                return Target("task", hits[0], (hits[0],))
            if len(hits) > 1:
                shown = ", ".join(spoken_task(h) for h in hits[:4])
                raise TargetError(f"'{phrase}' could mean {shown}. Which one?", tuple(hits[:4]))
        if len(group_hits) > 1:
            raise TargetError(f"'{phrase}' could mean {', '.join(group_hits)}. Which one?", tuple(group_hits))
        closest = self._closest(phrase, groups)
        hint = f" Did you mean {' or '.join(spoken_task(c) for c in closest[:2])}?" if closest else ""
        raise TargetError(f"There is no task called '{phrase}'.{hint}", closest)

    def _closest(self, phrase: str, groups: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        choices = {spoken_task(n): n for n in self._specs} | {g.lower(): g for g in groups}
        found = difflib.get_close_matches(phrase.lower().replace("_", " "), list(choices), n=3, cutoff=0.5)
        return tuple(choices[f] for f in found)
