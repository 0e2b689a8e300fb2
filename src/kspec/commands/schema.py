"""``kspec schema``: print the JSON Schema of the YAML form.

Editors (the YAML language server: ``# yaml-language-server: $schema=...``)
use it to complete layer names and arguments and to underline structural
mistakes as the user types; validators (``check-jsonschema``, Python's
``jsonschema``) use it in pipelines. ``kspec check`` remains the judge: it
also knows names, shapes and values the schema cannot (see
:data:`kspec.compiler.json_schema.LIMITS`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kspec._atomic import write_text_atomic
from kspec.commands._common import EXIT_OK, check_output_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the schema to FILE (atomically) instead of printing it")


def run(args: argparse.Namespace) -> int:
    from kspec.compiler.json_schema import schema_text

    if args.output is not None:
        check_output_dir(Path(args.output))
    text = schema_text()
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    write_text_atomic(Path(args.output), text)
    print(f"wrote {args.output}")
    return EXIT_OK
