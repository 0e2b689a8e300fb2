"""The ``kspec viz`` page: the graph's layered layout, the spec's blocks as
collapsible groups, and the one self-contained HTML file (template, CSS and
JavaScript from the package's ``viz_page`` directory, data inlined as JSON).

The layout is computed here, once, for the fully expanded graph: a layer's
row is the longest path to it from an input, and its column follows its
inputs (a layer sits under the mean of its inputs' centres, rows packed
left to right). The page draws from this layout; collapsing a block hides
its layers, puts one box in its first row and drops rows left empty.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from kspec.compiler.shapes import ModelShapes
from kspec.spec.ir import Span

__all__ = ["block_groups", "layout", "render_page"]

#: Width of one character of a box's text, in pixels, and the gap between boxes in a row.
CHAR_W = 6.3
GAP_X = 26.0
PAD = 30.0


def _width(node: dict[str, Any]) -> float:
    title = f"{node['id']} ({node['type']})"
    sub = f"{node['shape']}  {node['params']:,} params" + (f"  shared x{node['calls']}" if node["calls"] > 1 else "")
    return round(max(len(title), len(sub), 12) * CHAR_W + 22, 1)


def _ranks(ids: list[str], preds: dict[str, list[str]]) -> dict[str, int]:
    """Longest-path rank of each node (a topological walk; a node in a cycle,
    which a Keras model cannot have, is put after what is known)."""
    succs: dict[str, list[str]] = {i: [] for i in ids}
    missing = {i: 0 for i in ids}
    for node, sources in preds.items():
        for s in sources:
            succs[s].append(node)
            missing[node] += 1
    rank = dict.fromkeys(ids, 0)
    ready = [i for i in ids if missing[i] == 0]
    done: set[str] = set()
    while ready:
        node = ready.pop(0)
        done.add(node)
        for t in succs[node]:
            rank[t] = max(rank[t], rank[node] + 1)
            missing[t] -= 1
            if missing[t] == 0:
                ready.append(t)
    top = max(rank.values(), default=0)
    for i in ids:
        if i not in done:
            top += 1
            rank[i] = top
    return rank


def layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> None:
    """Give each node its ``rank`` (row), ``x`` (left edge) and ``w`` (width)."""
    ids = [n["id"] for n in nodes]
    known = set(ids)
    preds: dict[str, list[str]] = {i: [] for i in ids}
    for e in edges:
        if e["s"] in known and e["t"] in known and e["s"] != e["t"] and e["s"] not in preds[e["t"]]:
            preds[e["t"]].append(e["s"])
    rank = _ranks(ids, preds)
    rows: dict[int, list[dict[str, Any]]] = {}
    for index, n in enumerate(nodes):
        n["rank"] = rank[n["id"]]
        n["w"] = _width(n)
        n["_index"] = index
        rows.setdefault(n["rank"], []).append(n)
    centre: dict[str, float] = {}
    for r in sorted(rows):
        row = rows[r]
        for n in row:
            sources = [centre[p] for p in preds[n["id"]] if p in centre]
            n["_want"] = sum(sources) / len(sources) if sources else 0.0
        row.sort(key=lambda n: (n["_want"], n["_index"]))
        right = -1e18
        for n in row:
            x = max(n["_want"] - n["w"] / 2, right + GAP_X)
            n["x"] = x
            right = x + n["w"]
        shift = (sum(n["_want"] for n in row) - sum(n["x"] + n["w"] / 2 for n in row)) / len(row)
        if len(row) > 1:  # centre the row on what its layers want, keeping their order and gaps
            for n in row:
                n["x"] += shift
        for n in row:
            centre[n["id"]] = n["x"] + n["w"] / 2
    low = min((n["x"] for n in nodes), default=0.0)
    for n in nodes:
        n["x"] = round(n["x"] - low + PAD, 1)
        del n["_want"], n["_index"]


def _chain(span: Span | None) -> list[tuple[Span, str]]:
    """The block calls a layer was expanded through, outermost first."""
    out: list[tuple[Span, str]] = []
    while span is not None and span.via is not None:
        out.append((span.via, span.via_block or "block"))
        span = span.via
    return out[::-1]


def _common_prefix(names: Iterable[str]) -> str:
    parts = [n.split("_") for n in names]
    if not parts:
        return ""
    prefix: list[str] = []
    for tokens in zip(*parts, strict=False):
        if len(set(tokens)) != 1:
            break
        prefix.append(tokens[0])
    return "_".join(prefix)


def block_groups(shapes: ModelShapes, present: set[str]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The spec's block calls as nested groups of layers: the groups (id,
    label, block name, parent, nesting height) and, per layer, the ids of the
    groups it is in, outermost first.

    A block call is told apart by its call site, and a call repeated by a
    loop (one call site) by the name its result takes (the prefix of the
    names of the layers inside it)."""
    chains = {layer.name: _chain(layer.span) for layer in shapes.layers if layer.name in present}
    keys: dict[str, list[tuple[Any, ...]]] = {name: [] for name in chains}
    for level in range(max((len(c) for c in chains.values()), default=0)):
        members: dict[tuple[Any, ...], list[str]] = {}
        for name, chain in chains.items():
            if len(chain) > level:
                parent: tuple[Any, ...] = keys[name][level - 1] if level else ()
                members.setdefault((parent, id(chain[level][0])), []).append(name)
        for site, names in members.items():
            direct = sorted((n for n in names if len(chains[n]) == level + 1), key=len)
            for name in names:
                prefix = next((c for c in direct if name == c or name.startswith(c + "_")), "")
                keys[name].append((*site, prefix))
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    member_names: dict[tuple[Any, ...], list[str]] = {}
    for name, chain in chains.items():
        for level, key in enumerate(keys[name]):
            member_names.setdefault(key, []).append(name)
            if key not in groups:
                outer = groups[keys[name][level - 1]]["id"] if level else None
                groups[key] = {"id": f"b{len(groups)}", "block": chain[level][1], "parent": outer, "height": 0}
    for key, group in groups.items():
        prefix = key[-1] or _common_prefix(member_names[key])
        group["label"] = f"{group['block']} {prefix}".strip()
    by_id = {g["id"]: g for g in groups.values()}
    for group in groups.values():
        height, parent = 1, group["parent"]
        while parent is not None:
            by_id[parent]["height"] = max(by_id[parent]["height"], height)
            height, parent = height + 1, by_id[parent]["parent"]
    membership = {name: [groups[k]["id"] for k in keys[name]] for name in chains}
    return list(groups.values()), membership


def _asset(name: str) -> str:
    return (resources.files("kspec") / "viz_page" / name).read_text(encoding="utf-8")


def page_json(data: dict[str, Any]) -> str:
    """``data`` as JSON safe inside a ``<script>`` element (no ``<`` at all)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def render_page(data: dict[str, Any]) -> str:
    """The whole page: one HTML file needing nothing else to open."""
    page = _asset("page.html")
    parts = {
        "__KSPEC_TITLE__": html.escape(str(data.get("title", "kspec viz"))),
        "__KSPEC_CSS__": _asset("page.css"),
        "__KSPEC_JS__": _asset("page.js"),
        "__KSPEC_DATA__": page_json(data),
    }
    done: list[str] = []
    for marker, text in sorted(parts.items(), key=lambda item: page.find(item[0])):
        head, sep, page = page.partition(marker)  # the rest of the template only: inserted text is never searched
        if not sep:
            raise RuntimeError(f"the page template has no {marker}")
        done += [head, text]
    return "".join([*done, page])
