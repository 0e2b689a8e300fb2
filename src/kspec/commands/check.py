"""``kspec check FILE...``: every static check, without keras or tensorflow.

Parses, expands and checks each file (graph, arguments against the layer
catalogue, shapes), prints every located diagnostic, and exits 0 when all
files are clean, 1 when any has errors, 2 on usage or I/O errors. When the
installed Keras is not the version the catalogue was generated from, one
note says so on stderr (the exit status is unchanged).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kspec.commands._common import EXIT_OK, EXIT_SPEC, EXIT_USAGE, add_defines, parse_defines
from kspec.spec.diagnostics import Diagnostic, KspecError, render_all


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", metavar="FILE", nargs="+", help="spec files (.kspec, .yaml)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (default) or json: one object per file with its diagnostics")
    add_defines(parser)


def _check_one(path: str, defines: dict[str, Any]) -> tuple[list[Diagnostic], str | None, str | None]:
    """(diagnostics, source text, I/O error message)."""
    from kspec.compiler.pipeline import load_text, read_source

    try:
        text = read_source(path)
    except UnicodeDecodeError as exc:
        return [], None, f"'{path}' is not UTF-8 text ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        return [], None, f"cannot access '{path}': {exc.strerror or exc}"
    try:
        load_text(text, path, None, defines, corners=True)
    except KspecError as exc:
        return exc.diagnostics, text, None
    return [], text, None


def run(args: argparse.Namespace) -> int:
    from kspec.catalogue import version_note

    defines = parse_defines(args.define)
    worst = EXIT_OK
    report: list[dict[str, Any]] = []
    noted = False
    for path in args.files:
        diags, text, io_error = _check_one(path, defines)
        if not noted and io_error is None:
            noted = True
            note = version_note()
            if note is not None:
                print(f"note: {note}", file=sys.stderr)
        if io_error is not None:
            worst = EXIT_USAGE
            if args.format == "json":
                report.append({"file": path, "ok": False, "error": io_error, "diagnostics": []})
            else:
                print(f"kspec: error: {io_error}", file=sys.stderr)
            continue
        errors = [d for d in diags if d.severity == "error"]
        if errors and worst == EXIT_OK:
            worst = EXIT_SPEC
        if args.format == "json":
            report.append({"file": path, "ok": not errors, "diagnostics": [d.as_dict() for d in diags]})
        elif diags:
            print(render_all(diags, {path: text or ""}), file=sys.stderr)
        else:
            print(f"{path}: ok")
    if args.format == "json":
        import json

        print(json.dumps(report, indent=2))
    return worst
