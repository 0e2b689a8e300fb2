"""``kspec graph SPEC -o FILE``: the model's layer graph, statically.

One box per layer with its type and output shape. A layer applied several
times (a named layer, a shared stack) is ONE box with several incoming
edges and a bold border marked ``shared xN``; a model used as a layer is a
3-D box (``box3d``) of type Functional/Sequential.

Formats, by the output's suffix:

- ``.dot``: Graphviz text, always available;
- ``.svg``: drawn by kspec itself (a layered layout, plain SVG text): no
  extra dependency, deterministic output;
- ``.png``: the same layout drawn with matplotlib (a kspec dependency for
  training plots); if it is missing, exit 2 with how to install it.

Without ``-o`` the drawing is ``<spec name>.svg`` in the current directory.
``--shapes`` adds each layer's parameter count to its box and the shape of
the tensor each edge carries to the edge.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from html import escape as _html_escape
from pathlib import Path

from kspec._atomic import atomic_path, write_text_atomic
from kspec.commands._common import EXIT_OK, add_defines, check_output_dir, fail_usage, parse_defines
from kspec.compiler.registry import fmt_shape
from kspec.compiler.shapes import LayerInfo, ModelShapes, infer_spec

FORMATS = (".dot", ".svg", ".png")


def escape(text: str) -> str:
    """Text for an SVG element: &, < and > escaped (what xml.sax.saxutils.escape does)."""
    return _html_escape(text, quote=False)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the spec file (.kspec, .yaml)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="output file: .dot (Graphviz text), .svg or .png (default: the spec's name with .svg)")
    parser.add_argument("--shapes", action="store_true",
                        help="show parameter counts in the boxes and tensor shapes on the edges")
    parser.add_argument("--model", metavar="NAME", help="which model (default: the last one)")
    add_defines(parser)


@dataclass
class Node:
    """A box: one layer object, however often it is applied."""

    id: str
    title: str  # name (Type)
    shape: str
    shared: int  # number of applications when > 1
    submodel: bool
    params: int | None = None  # its parameter count (None: no static rule)


def graph_of(m: ModelShapes) -> tuple[list[Node], list[tuple[str, str]]]:
    """Nodes and edges (source id, target id) of a model's layer graph."""
    nodes: list[Node] = []
    edges: list[tuple[str, str]] = []
    known = {layer.name for layer in m.layers}
    if m.kind == "sequential":
        nodes.append(Node("input", "input (InputLayer)", fmt_shape(m.inputs[0] if m.inputs else None), 0, False, 0))
        known.add("input")
    for layer in m.layers:
        nodes.append(_node(layer))
        for src in layer.inbound:
            if src in known:
                edges.append((src, layer.name))
    if m.kind == "sequential" and m.layers:
        edges = [("input", m.layers[0].name)] + [(a.name, b.name) for a, b in zip(m.layers, m.layers[1:], strict=False)]
    return nodes, edges


def _node(layer: LayerInfo) -> Node:
    if len(layer.outputs) > 1:
        shape = "[" + ", ".join(fmt_shape(s) for s in layer.outputs) + "]"
    else:
        shape = fmt_shape(layer.outputs[0] if layer.outputs else None)
    sub = layer.type in ("Functional", "Sequential")
    return Node(layer.name, f"{layer.name} ({layer.type})", shape, layer.calls if layer.calls > 1 else 0, sub,
                layer.params)


def params_text(n: Node) -> str:
    """A box's parameter count, for ``--shapes``."""
    return "? params" if n.params is None else f"{n.params:,} params"


def edge_labels(nodes: list[Node], edges: list[tuple[str, str]]) -> list[str]:
    """The shape each edge carries: its source's output shape."""
    shape = {n.id: n.shape for n in nodes}
    return [shape.get(a, "?") for a, _ in edges]


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(name: str, nodes: list[Node], edges: list[tuple[str, str]], shapes: bool = False) -> str:
    """Graphviz text for the graph."""
    out = [f"digraph {_q(name)} {{", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica", fontsize=11];']
    for n in nodes:
        parts = [n.title, n.shape, *([params_text(n)] if shapes else []),
                 *([f"shared x{n.shared}"] if n.shared else [])]
        attrs = ['label="' + "\\n".join(_q(p)[1:-1] for p in parts) + '"']
        if n.submodel:
            attrs.append("shape=box3d")
        if n.shared:
            attrs.append("penwidth=2.5")
            attrs.append('color="#1f5fbf"')
        out.append(f"  {_q(n.id)} [{', '.join(attrs)}];")
    labels = edge_labels(nodes, edges)
    for (a, b), label in zip(edges, labels, strict=True):
        edge = f" [label={_q(label)}, fontsize=9]" if shapes else ""
        out.append(f"  {_q(a)} -> {_q(b)}{edge};")
    out.append("}")
    return "\n".join(out) + "\n"


# -- layout (for .svg and .png) -------------------------------------------------

BOX_H = 46
GAP_Y = 34
GAP_X = 24
CHAR_W = 7.0


@dataclass
class Placed:
    node: Node
    x: float
    y: float
    w: float


def sub_text(n: Node, shapes: bool = False) -> str:
    """A box's second line: its output shape, with ``--shapes`` its parameter
    count, and how often it is shared."""
    return n.shape + (f"  {params_text(n)}" if shapes else "") + (f"  shared x{n.shared}" if n.shared else "")


def layout(nodes: list[Node], edges: list[tuple[str, str]],
           shapes: bool = False) -> tuple[list[Placed], float, float]:
    """Layered layout: rank = longest path from a source; boxes centred."""
    rank = {n.id: 0 for n in nodes}
    preds: dict[str, list[str]] = {n.id: [] for n in nodes}
    for a, b in edges:
        if a in preds and b in preds:
            preds[b].append(a)
    for n in nodes:  # nodes come in dependency order
        rank[n.id] = max((rank[p] + 1 for p in preds[n.id] if p != n.id), default=0)
    rows: dict[int, list[Node]] = {}
    for n in nodes:
        rows.setdefault(rank[n.id], []).append(n)

    def width(n: Node) -> float:
        return max(len(n.title), len(sub_text(n, True)) if shapes else len(n.shape), 10) * CHAR_W + 20

    total_w = max(sum(width(n) for n in row) + GAP_X * (len(row) - 1) for row in rows.values()) + 2 * GAP_X
    placed: list[Placed] = []
    for r in sorted(rows):
        row = rows[r]
        row_w = sum(width(n) for n in row) + GAP_X * (len(row) - 1)
        x = (total_w - row_w) / 2
        for n in row:
            placed.append(Placed(n, x, GAP_Y + r * (BOX_H + GAP_Y), width(n)))
            x += width(n) + GAP_X
    height = GAP_Y + len(rows) * (BOX_H + GAP_Y)
    return placed, total_w, height


def route(placed: list[Placed], a: Placed, b: Placed, lane: int) -> list[tuple[float, float]]:
    """Points of an edge: straight between adjacent rows; an edge that skips
    rows goes around the boxes between them, on the right."""
    start = (a.x + a.w / 2, a.y + BOX_H)
    end = (b.x + b.w / 2, b.y)
    between = [p for p in placed if a.y < p.y < b.y]
    if not between:
        return [start, end]
    right = max(p.x + p.w for p in [*between, a, b]) + 14 + 10 * lane
    return [(a.x + a.w, a.y + BOX_H / 2), (right, a.y + BOX_H / 2), (right, b.y + BOX_H / 2),
            (b.x + b.w, b.y + BOX_H / 2)]


def _routes(placed: list[Placed], edges: list[tuple[str, str]]) -> list[list[tuple[float, float]]]:
    return [pts for pts, _ in _labelled_routes(placed, edges, [""] * len(edges))]


def _labelled_routes(placed: list[Placed], edges: list[tuple[str, str]],
                     labels: list[str]) -> list[tuple[list[tuple[float, float]], str]]:
    """Each drawable edge's points, with its label."""
    at = {p.node.id: p for p in placed}
    out: list[tuple[list[tuple[float, float]], str]] = []
    lane = 0
    for (a, b), label in zip(edges, labels, strict=True):
        if a in at and b in at:
            pts = route(placed, at[a], at[b], lane)
            lane += len(pts) > 2
            out.append((pts, label))
    return out


def label_at(pts: list[tuple[float, float]]) -> tuple[float, float]:
    """Where an edge's shape label goes: beside the middle of its longest vertical run."""
    if len(pts) == 2:
        (x1, y1), (x2, y2) = pts
        return (x1 + x2) / 2 + 5, (y1 + y2) / 2 + 3
    (x, y1), (_, y2) = pts[1], pts[2]
    return x + 4, (y1 + y2) / 2

def _extent(placed: list[Placed], routes: list[list[tuple[float, float]]], w: float) -> float:
    return max([w, *(x + GAP_X for r in routes for x, _ in r)])


def to_svg(nodes: list[Node], edges: list[tuple[str, str]], shapes: bool = False) -> str:
    """A standalone SVG drawing of the graph."""
    placed, w, h = layout(nodes, edges, shapes)
    labelled = _labelled_routes(placed, edges, edge_labels(nodes, edges))
    routes = [pts for pts, _ in labelled]
    w = _extent(placed, routes, w) + (60 if shapes else 0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
           f'viewBox="0 0 {w:.0f} {h:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>']
    for pts in routes:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        out.append(f'<polyline points="{coords}" fill="none" stroke="#444" marker-end="url(#arrow)"/>')
    for pts, label in labelled if shapes else []:
        x, y = label_at(pts)
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="9" fill="#6b4fa0">{escape(label)}</text>')
    for p in placed:
        n = p.node
        stroke, sw = ("#1f5fbf", 2.5) if n.shared else ("#222", 1)
        fill = "#eef3fb" if n.submodel else "#ffffff"
        if n.submodel:
            out.append(f'<rect x="{p.x + 4:.1f}" y="{p.y - 4:.1f}" width="{p.w:.1f}" height="{BOX_H}" '
                       f'fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>')
        out.append(f'<rect x="{p.x:.1f}" y="{p.y:.1f}" width="{p.w:.1f}" height="{BOX_H}" rx="4" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{sw}"/>')
        cx = p.x + p.w / 2
        out.append(f'<text x="{cx:.1f}" y="{p.y + 18:.1f}" text-anchor="middle">{escape(n.title)}</text>')
        sub = sub_text(n, shapes)
        out.append(f'<text x="{cx:.1f}" y="{p.y + 36:.1f}" text-anchor="middle" fill="#555">{escape(sub)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_png(nodes: list[Node], edges: list[tuple[str, str]], path: Path, shapes: bool = False) -> None:
    """The same layout, drawn with matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import FancyArrowPatch, Rectangle
    except ImportError:
        raise fail_usage("writing .png needs matplotlib: pip install matplotlib (or write .dot or .svg)") from None
    placed, w, h = layout(nodes, edges, shapes)
    labelled = _labelled_routes(placed, edges, edge_labels(nodes, edges))
    routes = [pts for pts, _ in labelled]
    w = _extent(placed, routes, w) + (60 if shapes else 0)
    dpi = 100
    fig = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    for pts in routes:
        xs, ys = zip(*pts, strict=False)
        ax.plot(xs[:-1], ys[:-1], color="#444", linewidth=1)
        ax.add_patch(FancyArrowPatch(pts[-2], pts[-1], arrowstyle="-|>", mutation_scale=10, color="#444",
                                     shrinkA=0, shrinkB=0))
    for pts, label in labelled if shapes else []:
        x, y = label_at(pts)
        ax.text(x, y, label, ha="left", va="center", fontsize=7, color="#6b4fa0")
    for p in placed:
        n = p.node
        stroke, sw = ("#1f5fbf", 2.5) if n.shared else ("#222", 1.0)
        fill = "#eef3fb" if n.submodel else "#ffffff"
        if n.submodel:
            ax.add_patch(Rectangle((p.x + 4, p.y - 4), p.w, BOX_H, facecolor=fill, edgecolor=stroke, linewidth=sw))
        ax.add_patch(Rectangle((p.x, p.y), p.w, BOX_H, facecolor=fill, edgecolor=stroke, linewidth=sw))
        cx = p.x + p.w / 2
        ax.text(cx, p.y + 15, n.title, ha="center", va="center", fontsize=9)
        sub = sub_text(n, shapes)
        ax.text(cx, p.y + 33, sub, ha="center", va="center", fontsize=8, color="#555")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from kspec.compiler.pipeline import load_path, select_model

    out = Path(args.output) if args.output else Path(Path(args.spec).stem + ".svg")
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise fail_usage(f"cannot write '{out}': use a .dot, .svg or .png file")
    check_output_dir(out)
    spec = load_path(args.spec, parse_defines(args.define))
    target = select_model(spec, args.model).name
    nodes, edges = graph_of(infer_spec(spec).models[target])
    if suffix == ".dot":
        write_text_atomic(out, to_dot(target, nodes, edges, args.shapes))
    elif suffix == ".svg":
        write_text_atomic(out, to_svg(nodes, edges, args.shapes))
    else:
        with atomic_path(out) as tmp:
            to_png(nodes, edges, tmp, args.shapes)
    print(f"wrote {out} ({len(nodes)} layers, model '{target}')")
    return EXIT_OK
