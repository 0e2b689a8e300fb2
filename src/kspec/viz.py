"""Look inside a model from Python: the ``kspec viz`` page, served or inline.

    import kspec.viz
    kspec.viz.launch(model, images=["cats/"], classes="classes.txt")   # serves until Ctrl-C
    server = kspec.viz.launch(model, images=["cat.png"], block=False)  # in a notebook: returns at once
    server.shutdown()
    kspec.viz.show(spec_or_model)        # in Jupyter: the graph inline (SVG, or the interactive page)

``launch`` serves the page from 127.0.0.1 only, computing activations when
the page asks for them, as ``kspec viz --serve`` does; ``show`` returns an
object Jupyter displays through ``_repr_svg_`` and ``_repr_html_``.
"""

from __future__ import annotations

import html
import threading
from typing import Any

__all__ = ["Graph", "launch", "page", "show"]


def _loaded(target: Any) -> Any:
    from kspec.commands.viz import Loaded, from_model

    if hasattr(target, "models") and hasattr(target, "blocks"):  # a kspec Spec
        import kspec
        from kspec.commands._viz_page import block_groups
        from kspec.compiler.pipeline import select_model
        from kspec.compiler.shapes import infer_spec

        name = select_model(target).name
        model = kspec.build(target, name)
        present = {layer.name for layer in model.layers}
        groups, membership = block_groups(infer_spec(target).models[name], present)
        return Loaded(model, name, groups, membership)
    return from_model(target)


def page(target: Any, **options: Any) -> str:
    """The self-contained page for a Keras model or a spec, as text.
    ``options`` are the command's: ``images=[...]``, ``classes="file"``, ``top_k=5`` ..."""
    from kspec.commands._viz_page import render_page
    from kspec.commands.viz import options as parse_options
    from kspec.commands.viz import page_data

    data, _ = page_data(parse_options(**options), _loaded(target))
    return render_page(data)


def launch(target: Any, *, port: int = 8000, block: bool = True, **options: Any) -> Any:
    """Serve the page for a Keras model or a spec from 127.0.0.1, computing
    activations on demand. With ``block`` (the default) serve until Ctrl-C;
    else serve from a background thread and return the server (its ``url``,
    and ``shutdown()`` to stop it)."""
    from kspec.commands._viz_serve import make_server, serve
    from kspec.commands.viz import options as parse_options
    from kspec.commands.viz import page_data
    from kspec.runtime.viz import Probe

    loaded = _loaded(target)
    data, given = page_data(parse_options(**options), loaded, lazy=True)
    if block:
        serve(loaded.model, data, given, port)
        return None
    server = make_server(data, Probe(loaded.model, given.samples, given.classes, given.limits), port)
    threading.Thread(target=server.serve_forever, name="kspec-viz", daemon=True).start()
    return server


class Graph:
    """A model's or spec's graph for Jupyter: ``_repr_svg_`` draws it
    statically, ``_repr_html_`` embeds the interactive page (in an iframe,
    so its styles and scripts stay its own)."""

    def __init__(self, target: Any, **options: Any) -> None:
        self.target = target
        self.options = options

    def _repr_svg_(self) -> str:
        if hasattr(self.target, "models") and hasattr(self.target, "blocks"):
            from kspec.commands.graph import graph_of, to_svg
            from kspec.compiler.pipeline import select_model
            from kspec.compiler.shapes import infer_spec

            name = select_model(self.target).name
            return to_svg(*graph_of(infer_spec(self.target).models[name]), True)
        from kspec.commands.graph import Node, to_svg
        from kspec.runtime.viz import layer_graph

        graph = layer_graph(self.target)
        nodes = [Node(n["id"], f"{n['id']} ({n['type']})", n["shape"], n["calls"] if n["calls"] > 1 else 0,
                      n["sub"], n["params"]) for n in graph["nodes"]]
        return to_svg(nodes, [(e["s"], e["t"]) for e in graph["edges"]], True)

    def _repr_html_(self) -> str:
        text = page(self.target, **self.options)
        return (f'<iframe srcdoc="{html.escape(text, quote=True)}" style="width:100%;height:640px;border:1px solid '
                '#ccc" sandbox="allow-scripts"></iframe>')


def show(target: Any, **options: Any) -> Graph:
    """The graph of a Keras model or a spec, for Jupyter to display inline."""
    return Graph(target, **options)
