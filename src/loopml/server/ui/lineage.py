"""Lineage trees for pages: `loopml.pipelines.lineage` with a link on every node it can open."""

from __future__ import annotations

from typing import Any

from loopml.pipelines.lineage import LineageNode, lineage
from loopml.server.ui.render import segment
from loopml.workspace import Workspace


def href(kind: str, ident: str) -> str | None:
    if kind == "run":
        return f"/runs/{segment(ident)}"
    if kind == "dataset":
        name, _, version = ident.rpartition("@")
        return f"/datasets/{segment(name)}/{segment(version)}"
    if kind == "model":
        name, _, version = ident.rpartition("/")
        return f"/models/{segment(name)}/{segment(version)}"
    return None  # an artifact digest: its producing run is its child in the tree


def as_tree(node: LineageNode) -> dict[str, Any]:
    return {
        "kind": node.kind,
        "id": node.id,
        "label": node.label,
        "relation": node.relation,
        "repeated": node.repeated,
        "href": href(node.kind, node.id),
        "children": [as_tree(child) for child in node.children],
    }


def lineage_tree(workspace: Workspace, target: str, direction: str = "up") -> dict[str, Any]:
    """What `target` (a run id, dataset NAME@VERSION or model NAME/VERSION) came from."""
    return as_tree(lineage(target, direction=direction, workspace=workspace))
