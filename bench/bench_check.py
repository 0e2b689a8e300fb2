"""Benchmark: ``kspec check`` against a bare ``import keras``.

Prints, as the median of several runs:

1. the whole-process time of ``kspec check`` on a generated 500-layer spec,
   in both forms (YAML, and the same spec as ``.kspec``), and on
   ``examples/resnet50`` in both forms, next to the whole-process time of
   ``python -c "import keras"``, and the ratios (goal: 0.05 or less, YAML no
   slower than ``.kspec``); all after a warm-up run with bytecode caching
   on, as for an installed package; then each YAML check against its
   ``.kspec`` twin in alternating pairs, as the median of the differences
   (the machine's load moves separate medians by more than the gap);
2. the in-process static-check time (arguments + shapes, after parsing,
   with the collector paused as ``kspec check`` runs it) of 1k, 2k, 5k and
   10k-layer specs, with the time per layer, which must stay
   flat (linear growth);
3. the per-layer curve of everything ``kspec check`` does in process
   (parse, expand and every check) on ``.kspec`` files of 1,000 to 50,000
   layers, sequential and functional (goal: 10,000 layers under 0.8 s, the
   time per layer flat), next to CPython's ``ast.parse`` on the Keras code
   of the same models, whose time per line grows with the heap as well on
   a machine whose memory caches are shared: the ratio of the two is what
   kspec's own work adds;
4. the whole-process time of ``kspec check`` on the generated spec at
   500, 2,000 and 5,000 layers in both forms, next to what loading each
   form's own front end takes (the YAML front end, which reads the usual
   spec without PyYAML, and pydantic-core's validator of a spec for YAML,
   the ``.kspec`` parser and its tables for ``.kspec``):
   the fixed costs that the faster reading of either makes up for at some
   size.

    python bench/bench_check.py [--runs 5] [--curve-runs 3] [--max-layers 50000]
"""

from __future__ import annotations

import argparse
import ast
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


#: The commands' environment: bytecode caching on (``PYTHONDONTWRITEBYTECODE``
#: dropped), as in any installed package; TensorFlow's start-up quiet.
_ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "TF_CPP_MIN_LOG_LEVEL": "3"}


def wall(cmd: list[str]) -> float:
    """One whole-process wall time of ``cmd``, in seconds."""
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV, check=False)
    return time.perf_counter() - t


def walls(cmds: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median whole-process wall time of each command, in seconds, after one
    warm-up run each. The commands take turns, run by run, so a change in
    the machine's load falls on all of them alike, in an order shuffled at
    each run (with a fixed seed), so that no command always follows the
    same one: a command run right after ``import keras`` finds the caches
    that import has filled with other things, and a ``kspec check`` of
    YAML loses more there than one of ``.kspec`` (its libraries are
    larger)."""
    for cmd in cmds.values():
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    names = list(cmds)
    order = random.Random(0)
    for _ in range(runs):
        order.shuffle(names)
        for name in names:
            times[name].append(wall(cmds[name]))
    return {name: statistics.median(ts) for name, ts in times.items()}


def paired(first: list[str], second: list[str], pairs: int) -> tuple[float, float, float]:
    """Whole-process wall times of two commands run in alternation (the
    first first in every other pair), as the medians of each and the median
    of the pairs' differences (first - second), in seconds: a difference of
    a few milliseconds that the machine's load moves more than that between
    separate medians."""
    wall(first), wall(second)
    a: list[float] = []
    b: list[float] = []
    for i in range(pairs):
        if i % 2:
            b.append(wall(second))
            a.append(wall(first))
        else:
            a.append(wall(first))
            b.append(wall(second))
    return statistics.median(a), statistics.median(b), statistics.median(x - y for x, y in zip(a, b, strict=True))


def static_time(n_layers: int, runs: int) -> tuple[int, float]:
    """(layers in the parsed spec, median static_check seconds)."""
    from kspec.compiler.pipeline import parse_text, static_check

    spec = parse_text(make_spec(n_layers), "bench.yaml")
    model = spec.models[0]
    count = sum(len(st.value.steps) for st in [*model.nodes, *model.outputs])  # type: ignore[union-attr, misc]
    diags = static_check(spec)
    assert not diags, diags[:3]
    return count, in_process(runs, static_check, spec)


def in_process(runs: int, work: Callable[..., object], *args: object) -> float:
    """Median in-process seconds of ``work(*args)``, each run after a full
    collection and with the collector paused, as ``kspec check`` runs."""
    from kspec.spec.collector import collector_paused

    times = []
    for _ in range(runs):
        gc.collect()
        with collector_paused():
            t = time.perf_counter()
            work(*args)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_sequential(n_layers: int) -> str:
    """A ``sequential`` spec of ``n_layers`` Dense layers, in ``.kspec``."""
    return "sequential s {\n  input (16,)\n" + "  Dense(16)\n" * n_layers + "}\n"


def _blocks(n_layers: int) -> list[tuple[int, str]]:
    """The residual blocks of the generated functional model of about
    ``n_layers`` layers: each block's number and the tensor it starts from
    (three Dense layers, then an Add of their result and that tensor)."""
    blocks, prev, made, i = [], "x", 0, 0
    while made < n_layers - 1:
        i += 1
        blocks.append((i, prev))
        prev = f"s{i}"
        made += 4
    return blocks


def make_functional(n_layers: int) -> str:
    """A functional ``.kspec`` spec of about ``n_layers`` layers: chains of
    Dense layers with a residual Add every four, as ``make_spec`` builds."""
    lines = ["model big {", "  input x: (16,)"]
    blocks = _blocks(n_layers)
    for i, prev in blocks:
        lines.append(f'  h{i} = {prev} -> Dense(16, activation="relu") -> Dense(16) -> Dense(16)')
        lines.append(f"  s{i} = Add()(h{i}, {prev})")
    last = f"s{blocks[-1][0]}" if blocks else "x"
    lines += [f"  output out = {last} -> Dense(1)", "}"]
    return "\n".join(lines) + "\n"


def make_python(n_layers: int, functional: bool) -> str:
    """The Keras code a user would write for the same model as
    :func:`make_functional` or :func:`make_sequential`: the reference for
    the per-layer curve (CPython's own parser, reading it)."""
    if not functional:
        return ("model = keras.Sequential([\n    keras.Input((16,)),\n"
                + "    layers.Dense(16),\n" * n_layers + "])\n")
    lines = ["x = keras.Input((16,))"]
    blocks = _blocks(n_layers)
    for i, prev in blocks:
        lines += [f'h{i} = layers.Dense(16, activation="relu")({prev})', f"h{i} = layers.Dense(16)(h{i})",
                  f"h{i} = layers.Dense(16)(h{i})", f"s{i} = layers.Add()([h{i}, {prev}])"]
    last = f"s{blocks[-1][0]}" if blocks else "x"
    lines += [f"out = layers.Dense(1)({last})", 'model = keras.Model(x, out, name="big")']
    return "\n".join(lines) + "\n"


def curve(runs: int, max_layers: int) -> None:
    """Print the per-layer time of parse + checks, sequential and
    functional, next to CPython's own parser (``ast.parse``) on the Keras
    code of the same model in the same run: on a shared machine a large
    heap makes every Python program slower per object (memory caches),
    and the ratio of the two says what kspec's own work adds to that."""
    from kspec.compiler.pipeline import load_text

    load_text(make_sequential(10), "warm.kspec")  # parser and catalogue loaded once, as in one process
    print(f"\nparse + expand + every check (.kspec, in process), median of {runs} runs,")
    print("against ast.parse of the same model written as Keras code (per layer):")
    print(f"  {'layers':>7}  {'sequential':>11}  {'per layer':>10}  {'ast.parse':>10}  {'ratio':>6}"
          f"  {'functional':>11}  {'per layer':>10}  {'ast.parse':>10}  {'ratio':>6}")
    rows: list[tuple[int, float, float, float, float]] = []
    for n in (1000, 2000, 5000, 10000, 20000, 50000):
        if n > max_layers:
            break
        t_seq = in_process(runs, load_text, make_sequential(n), "bench.kspec") / n
        r_seq = in_process(runs, ast.parse, make_python(n, functional=False)) / n
        t_fun = in_process(runs, load_text, make_functional(n), "bench.kspec") / n
        r_fun = in_process(runs, ast.parse, make_python(n, functional=True)) / n
        rows.append((n, t_seq, r_seq, t_fun, r_fun))
        print(f"  {n:>7}"
              f"  {t_seq * n * 1000:8.0f} ms  {t_seq * 1e6:7.1f} us  {r_seq * 1e6:7.1f} us  {t_seq / r_seq:6.2f}"
              f"  {t_fun * n * 1000:8.0f} ms  {t_fun * 1e6:7.1f} us  {r_fun * 1e6:7.1f} us  {t_fun / r_fun:6.2f}")
    if len(rows) > 1:
        (n0, s0, rs0, f0, rf0), (n1, s1, rs1, f1, rf1) = rows[0], rows[-1]
        print(f"  per-layer growth, {n0} -> {n1} layers: sequential {s1 / s0:.2f}x (ast.parse {rs1 / rs0:.2f}x), "
              f"functional {f1 / f0:.2f}x (ast.parse {rf1 / rf0:.2f}x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--curve-runs", type=int, default=3)
    parser.add_argument("--max-layers", type=int, default=50_000)
    args = parser.parse_args()
    kspec_bin = Path(sys.executable).with_name("kspec")
    with tempfile.TemporaryDirectory() as tmp:
        base = [str(kspec_bin)] if kspec_bin.exists() else [sys.executable, "-m", "kspec"]
        yaml_path, kspec_path = both_forms(Path(tmp), 500, base)
        examples = Path(__file__).resolve().parent.parent / "examples"
        checks = {form: [*base, "check", str(path)] for form, path in (
            ("yaml", yaml_path), ("kspec", kspec_path),
            ("resnet50.kspec", examples / "resnet50.kspec"), ("resnet50.yaml", examples / "resnet50.yaml"))}
        for cmd in checks.values():
            rc = subprocess.run(cmd, capture_output=True, check=False).returncode
            if rc != 0:
                print(f"kspec check failed on the generated spec (exit {rc})", file=sys.stderr)
                return 1
        times = walls({**checks, "keras": [sys.executable, "-c", "import keras"]}, args.runs)
        t_keras = times["keras"]
        pairs = 4 * args.runs
        against = {"500 layers": paired(checks["yaml"], checks["kspec"], pairs),
                   "resnet50": paired(checks["resnet50.yaml"], checks["resnet50.kspec"], pairs)}
    print(f"whole process, median of {args.runs} runs:")
    print(f"  kspec check (500 layers, YAML)    {times['yaml'] * 1000:8.0f} ms")
    print(f"  kspec check (500 layers, .kspec)  {times['kspec'] * 1000:8.0f} ms")
    print(f"  python -c 'import keras'          {t_keras * 1000:8.0f} ms")
    print(f"  kspec check examples/resnet50.kspec {times['resnet50.kspec'] * 1000:6.0f} ms")
    print(f"  kspec check examples/resnet50.yaml  {times['resnet50.yaml'] * 1000:6.0f} ms")
    print(f"  ratio, YAML                       {times['yaml'] / t_keras:8.3f}   (goal: < 0.050, and <= .kspec)")
    print(f"  ratio, .kspec                     {times['kspec'] / t_keras:8.3f}   (goal: < 0.050)")
    print(f"  ratio, resnet50.kspec             {times['resnet50.kspec'] / t_keras:8.3f}   (goal: < 0.050)")
    print(f"  ratio, resnet50.yaml              {times['resnet50.yaml'] / t_keras:8.3f}   (goal: < 0.050)")
    print(f"\nYAML against .kspec, {pairs} pairs of alternating runs:")
    print(f"  {'spec':<12}  {'YAML':>9}  {'.kspec':>9}  {'median of the differences':>26}")
    for name, (y, k, d) in against.items():
        print(f"  {name:<12}  {y * 1000:6.0f} ms  {k * 1000:6.0f} ms  {d * 1000:+23.1f} ms   (goal: <= 0)")
    print(f"\nstatic check (arguments + shapes, parsed IR), median of {args.runs} runs:")
    print(f"  {'layers':>7}  {'time':>9}  {'per layer':>10}")
    for n in (1000, 2000, 5000, 10000):
        count, t = static_time(n, args.runs)
        print(f"  {count:>7}  {t * 1000:7.1f} ms  {t / count * 1e6:7.1f} us")
    curve(args.curve_runs, args.max_layers)
    by_size(base, args.runs)
    return 0


#: What every ``kspec check`` imports, whichever the form.
_CHECK_IMPORTS = "import kspec.cli, kspec.compiler.pipeline"
#: What a check of the YAML form loads besides: the front end (whose plain
#: reader needs no PyYAML), pydantic-core's module and the validator of a spec.
_YAML_LOADS = "import kspec.spec.yaml_form; from kspec.spec import ir; ir._adapter(ir.Spec)"
#: What a check of the ``.kspec`` form loads besides: the front end and its parser's tables.
_KSPEC_LOADS = "import kspec.spec.kspec_form as f; f._fast()"


def both_forms(folder: Path, n_layers: int, base: list[str]) -> tuple[Path, Path]:
    """The generated spec of ``n_layers`` layers written in ``folder`` as
    YAML, and as ``.kspec`` by ``kspec convert`` (``base`` runs kspec)."""
    yaml_path = folder / f"spec{n_layers}.yaml"
    yaml_path.write_text(make_spec(n_layers), encoding="utf-8")
    kspec_path = yaml_path.with_suffix(".kspec")
    subprocess.run([*base, "convert", str(yaml_path), str(kspec_path)], capture_output=True, check=True)
    return yaml_path, kspec_path


def by_size(base: list[str], runs: int) -> None:
    """Print ``kspec check`` of both forms of the generated spec at a few
    sizes, and what loading each form's own front end costs."""
    sizes = (500, 2000, 5000)
    cmds: dict[str, list[str]] = {
        "bare": [sys.executable, "-c", _CHECK_IMPORTS],
        "yaml form": [sys.executable, "-c", f"{_CHECK_IMPORTS}; {_YAML_LOADS}"],
        "kspec form": [sys.executable, "-c", f"{_CHECK_IMPORTS}; {_KSPEC_LOADS}"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            yaml_path, kspec_path = both_forms(Path(tmp), n, base)
            cmds[f"yaml{n}"] = [*base, "check", str(yaml_path)]
            cmds[f"kspec{n}"] = [*base, "check", str(kspec_path)]
        times = walls(cmds, runs)
    print(f"\nkspec check, whole process by size, median of {runs} runs:")
    print(f"  {'layers':>7}  {'YAML':>9}  {'.kspec':>9}  {'YAML - .kspec':>14}")
    for n in sizes:
        y, k = times[f"yaml{n}"], times[f"kspec{n}"]
        print(f"  {n:>7}  {y * 1000:6.0f} ms  {k * 1000:6.0f} ms  {(y - k) * 1000:+11.0f} ms")
    for form, what in (("yaml form", "the YAML front end and pydantic-core's validator of a spec"),
                       ("kspec form", "the .kspec front end and its parser's tables")):
        print(f"  loading {what}, after what both load: {(times[form] - times['bare']) * 1000:.0f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
