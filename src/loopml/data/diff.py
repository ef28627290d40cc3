"""What changed between two versions of a dataset: files, schema, and statistics."""

from __future__ import annotations

import dataclasses
import math

from loopml.core.datasets import ColumnProfile, DatasetVersion
from loopml.data.versions import read_manifest
from loopml.workspace import Workspace

TOP_SHIFTS = 10


@dataclasses.dataclass(frozen=True, slots=True)
class StatShift:
    column: str
    statistic: str  # "mean (in std units)", "null share", "category share (total variation)"
    old: float
    new: float
    score: float  # how large the shift is, comparable within a statistic


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetDiff:
    name: str
    old: int
    new: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    schema_changes: tuple[str, ...]
    shifts: tuple[StatShift, ...]
    rows: tuple[int | None, int | None]


def diff_versions(ws: Workspace, old: DatasetVersion, new: DatasetVersion) -> DatasetDiff:
    before = {e.path: e.digest for e in read_manifest(ws.artifacts, old)}
    after = {e.path: e.digest for e in read_manifest(ws.artifacts, new)}
    return DatasetDiff(
        name=new.name,
        old=old.version,
        new=new.version,
        added=tuple(sorted(after.keys() - before.keys())),
        removed=tuple(sorted(before.keys() - after.keys())),
        changed=tuple(sorted(p for p in before.keys() & after.keys() if before[p] != after[p])),
        schema_changes=tuple(_schema_changes(old, new)),
        shifts=tuple(_shifts(old, new)),
        rows=(old.profile.rows if old.profile else None, new.profile.rows if new.profile else None),
    )


def _schema_changes(old: DatasetVersion, new: DatasetVersion) -> list[str]:
    if old.schema is None or new.schema is None:
        return []
    changes = []
    before = {c.name: c for c in old.schema.columns}
    after = {c.name: c for c in new.schema.columns}
    changes += [f"column {n!r} added ({after[n].type})" for n in after if n not in before]
    changes += [f"column {n!r} removed" for n in before if n not in after]
    for name in before.keys() & after.keys():
        a, b = before[name], after[name]
        if a.type != b.type:
            changes.append(f"column {name!r} type {a.type} -> {b.type}")
        if a.nullable != b.nullable:
            changes.append(f"column {name!r} nullable {a.nullable} -> {b.nullable}")
        new_categories = set(b.categories or ()) - set(a.categories or ())
        if a.categories is not None and new_categories:
            shown = ", ".join(sorted(new_categories)[:5])
            changes.append(f"column {name!r} new categories: {shown}")
    return sorted(changes)


def _shifts(old: DatasetVersion, new: DatasetVersion) -> list[StatShift]:
    if old.profile is None or new.profile is None:
        return []
    shifts = []
    for before in old.profile.columns:
        after = new.profile.column(before.name)
        if after is not None:
            shifts += _column_shifts(before, after)
    shifts.sort(key=lambda s: s.score, reverse=True)
    return shifts[:TOP_SHIFTS]


def _column_shifts(a: ColumnProfile, b: ColumnProfile) -> list[StatShift]:
    shifts = []
    null_a, null_b = _share(a.nulls, a.count + a.nulls), _share(b.nulls, b.count + b.nulls)
    if null_a != null_b:
        shifts.append(StatShift(a.name, "null share", null_a, null_b, abs(null_b - null_a)))
    if (
        a.mean is not None
        and b.mean is not None
        and math.isfinite(a.mean)
        and math.isfinite(b.mean)
    ):
        scale = a.std if a.std else (abs(a.mean) or 1.0)
        score = abs(b.mean - a.mean) / scale
        if score > 0:
            shifts.append(StatShift(a.name, "mean (in std units)", a.mean, b.mean, score))
    if a.counts and b.counts:
        total_a, total_b = sum(a.counts.values()) + a.other, sum(b.counts.values()) + b.other
        keys = a.counts.keys() | b.counts.keys()
        tv = 0.5 * sum(
            abs(_share(a.counts.get(k, 0), total_a) - _share(b.counts.get(k, 0), total_b))
            for k in keys
        )
        if tv > 0:
            shifts.append(StatShift(a.name, "category shares (total variation)", 0.0, tv, tv))
    return shifts


def _share(part: int, total: int) -> float:
    return part / total if total else 0.0
