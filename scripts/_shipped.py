"""What the generators of shipped modules share: compare the module they
make with the shipped one (``--check``), or write it in place."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path


def check_or_write(target: Path, text: str, script: str, check: bool) -> int:
    """With ``check``, 1 (and the start of the difference on stderr) when
    the shipped ``target`` is not ``text``, else 0; without, write ``text``
    to ``target``, never half-written."""
    if check:
        shipped = target.read_text(encoding="utf-8") if target.exists() else ""
        if shipped != text:
            diff = difflib.unified_diff(shipped.splitlines(), text.splitlines(), "shipped", "current", lineterm="")
            print("\n".join(list(diff)[:40]), file=sys.stderr)
            print(f"{target} is stale: run python scripts/{script}", file=sys.stderr)
            return 1
        return 0
    from kspec._atomic import write_text_atomic

    write_text_atomic(target, text)
    print(f"wrote {target}")
    return 0
