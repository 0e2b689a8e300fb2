"""Benchmark: ``kspec check`` against a bare ``import keras``.

Prints, as the median of several runs:

1. the whole-process time of ``kspec check`` on a generated 500-layer spec,
   next to the whole-process time of ``python -c "import keras"``, and the
   ratio (goal: under 0.1); both after a warm-up run with bytecode caching
   on, as for an installed package;
2. the in-process static-check time (arguments + shapes, after parsing) of
   1k, 2k, 5k and 10k-layer specs, with the time per layer, which must stay
   flat (linear growth).

    python bench/bench_check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def make_spec(n_layers: int) -> str:
    """A functional spec with ``n_layers`` layers: residual Dense blocks
    with merges, so graph order, naming and shapes all do real work."""
    nodes = []
    prev = "x"
    i = 0
    while i < n_layers - 1:
        nodes.append({"name": f"h{i}", "from": prev, "apply": {"Dense": {"units": 16, "activation": "relu"}}})
        if i % 4 == 3:
            nodes.append({"name": f"s{i}", "from": [f"h{i}", f"h{i - 2}"], "apply": "Add"})
            prev = f"s{i}"
            i += 2
        else:
            prev = f"h{i}"
            i += 1
    spec = {"models": [{"name": "big", "inputs": {"x": [16]}, "nodes": nodes,
                        "outputs": {"out": {"from": prev, "apply": {"Dense": [1]}}}}]}
    return yaml.safe_dump(spec, sort_keys=False)


def wall(cmd: list[str], runs: int) -> float:
    """Median whole-process wall time of ``cmd``, in seconds, after one
    warm-up run. Bytecode caching is on (``PYTHONDONTWRITEBYTECODE`` is
    dropped), as in any installed package, for both commands alike."""
    times = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def static_time(n_layers: int, runs: int) -> tuple[int, float]:
    """(layers in the parsed spec, median static_check seconds)."""
    from kspec.compiler.pipeline import parse_text
    from kspec.compiler.static import static_check

    spec = parse_text(make_spec(n_layers), "bench.yaml")
    model = spec.models[0]
    count = sum(len(st.value.steps) for st in [*model.nodes, *model.outputs])  # type: ignore[union-attr]
    times = []
    for _ in range(runs):
        gc.collect()
        t = time.perf_counter()
        diags = static_check(spec)
        times.append(time.perf_counter() - t)
        assert not diags, diags[:3]
    return count, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    kspec_bin = Path(sys.executable).with_name("kspec")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec500.yaml"
        path.write_text(make_spec(500), encoding="utf-8")
        check_cmd = [str(kspec_bin), "check", str(path)] if kspec_bin.exists() else \
            [sys.executable, "-m", "kspec", "check", str(path)]
        rc = subprocess.run(check_cmd, capture_output=True, check=False).returncode
        if rc != 0:
            print(f"kspec check failed on the generated spec (exit {rc})", file=sys.stderr)
            return 1
        t_check = wall(check_cmd, args.runs)
        t_keras = wall([sys.executable, "-c", "import keras"], args.runs)
    print(f"whole process, median of {args.runs} runs:")
    print(f"  kspec check (500 layers)   {t_check * 1000:8.0f} ms")
    print(f"  python -c 'import keras'   {t_keras * 1000:8.0f} ms")
    print(f"  ratio                      {t_check / t_keras:8.3f}   (goal: < 0.100)")
    print(f"\nstatic check (arguments + shapes, parsed IR), median of {args.runs} runs:")
    print(f"  {'layers':>7}  {'time':>9}  {'per layer':>10}")
    for n in (1000, 2000, 5000, 10000):
        count, t = static_time(n, args.runs)
        print(f"  {count:>7}  {t * 1000:7.1f} ms  {t / count * 1e6:7.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
