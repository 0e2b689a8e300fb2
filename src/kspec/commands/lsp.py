"""``kspec lsp``: a language server for ``.kspec`` and YAML specs, over stdio.

An editor starts it and talks the Language Server Protocol on standard
input and output. It publishes ``kspec check``'s diagnostics as the user
types, shows on hover a tensor's static shape and a layer's parameter count
and Keras documentation line, goes to the definition of a tensor, named
layer, block, parameter or model, completes layer names, keyword arguments
and ``ops.`` functions from the catalogue, and formats ``.kspec`` documents
as ``kspec fmt`` does. It never imports keras. It needs pygls (the ``lsp``
extra: ``pip install 'kspec[lsp]'``).
"""

from __future__ import annotations

import argparse

from kspec.commands._common import EXIT_OK, fail_usage


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true",
                        help="talk over standard input and output (the default and only transport; "
                             "accepted because editors pass it)")
    parser.add_argument("--debounce", type=int, default=100, metavar="MS",
                        help="milliseconds of quiet after a keystroke before a document is checked again "
                             "(default: 100)")


def run(args: argparse.Namespace) -> int:
    if args.debounce < 0:
        raise fail_usage(f"--debounce must be 0 or more milliseconds, got {args.debounce}")
    try:
        from kspec.commands._lsp_server import make_server
    except ImportError as exc:
        raise fail_usage(f"kspec lsp needs pygls ({exc}); install it with: pip install 'kspec[lsp]'") from None
    make_server(args.debounce / 1000).start_io()
    return EXIT_OK
