"""The YAML front end: YAML text -> IR (its printer is :mod:`kspec.spec.yaml_printer`).

Loading uses PyYAML's safe loader only (no Python tags, no code), keeps
the line and column of every mapping and value, rewrites the YAML form's
short-hands into IR dictionaries and validates them with pydantic. Every
problem is reported as a :class:`~kspec.spec.diagnostics.Diagnostic` at
the YAML position of the offending value.

A plain document (the usual spec) is read in one pass over libyaml's events
(:class:`_EventReader`); anything else (aliases, tags, doubled keys, syntax
errors, no libyaml) goes through composed nodes (:func:`_compose_nodes`),
which give every message and position. Both give the same located data.
A syntax error libyaml stops at is described from the events of PyYAML's
own parser (:func:`_raise_parse_error`), with the message and position the
composed nodes would give.

The YAML form (the README and ``docs/language.md`` describe it)::

    models:
      - name: matcher
        inputs:
          left: {shape: [100], dtype: int32}
        layers:                       # named layers / stacks: shared weights
          encoder: [{Embedding: [10000, 64]}, {LSTM: [32]}]
        nodes:
          - {name: l, from: left, apply: encoder}
          - {name: merged, from: [l, r], apply: Concatenate}
        outputs:
          same: {from: merged, apply: {Dense: {units: 1, activation: sigmoid}}}
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from kspec.spec import ir, limits
from kspec.spec._core import core
from kspec.spec.diagnostics import Diagnostic, KspecError, did_you_mean
from kspec.spec.ir import KEY_SPANS_KEY, SPAN_KEY, Span
from kspec.spec.ops import MERGE_HELPERS

__all__ = ["load_yaml"]

# ---------------------------------------------------------------------------
# YAML text -> located Python data


_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp")}


class _Located:
    """Raw YAML data with spans: mappings become dicts holding SPAN_KEY and
    KEY_SPANS_KEY (the span of each key's value); sequences are lists."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()  # builds scalars (a loader would hold itself)
        self.errors: list[Diagnostic] = []

    def span(self, node: yaml.Node) -> Span:
        s, e = node.start_mark, node.end_mark
        return Span(
            file=self.file, line=s.line + 1, column=s.column + 1, end_line=e.line + 1, end_column=e.column + 1
        )

    def scalar(self, node: yaml.ScalarNode) -> Any:
        """The Python value of a plain scalar (str/int/float/bool/null/timestamp)."""
        if node.tag == _STR_TAG:
            return node.value
        try:
            value = self.constructor.construct_object(node, deep=True)
        except ValueError as exc:  # an integer of more digits than Python reads, a date that does not exist
            if node.tag == _INT_TAG:
                raise self._too_large(node) from None
            raise KspecError(Diagnostic("K101", f"this value cannot be read: {exc}", self.span(node),
                                        "quote it to make it a string")) from None
        if type(value) is int and abs(value) >= limits.INT_LIMIT:
            raise self._too_large(node)
        return value

    def _too_large(self, node: yaml.ScalarNode) -> KspecError:
        return KspecError(Diagnostic("K101", f"this integer is too large: at most {limits.INT_LIMIT - 1}",
                                     self.span(node)))

    def measure(self, root: yaml.Node) -> None:
        """Refuse a document that its aliases make endless, too deep or too
        large, before anything is built, in time linear in its composed nodes.

        An alias is the node it names, shared: building makes a copy at each
        use, so a few lines of aliases can spell billions of values, nesting
        past the ``nesting`` limit, or a value that contains itself. The
        sizes and heights of shared nodes are counted once."""
        size: dict[int, int] = {}  # values a node builds to, itself included
        height: dict[int, int] = {}  # collections nested in it, itself included
        open_nodes: set[int] = set()  # the path being walked
        # A node, then (once every node below it is counted) the node again with its children.
        todo: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
        while todo:
            node, children = todo.pop()
            key = id(node)
            if children is not None:
                open_nodes.discard(key)
                size[key] = 1 + sum(size[id(c)] for c in children)
                below = max((height[id(c)] for c in children), default=0)
                height[key] = 0 if isinstance(node, yaml.ScalarNode) else below + 1
            elif key in open_nodes:
                raise KspecError(Diagnostic("K101", "this YAML value contains itself, through an alias",
                                            self.span(node), "a spec is a tree: copy the value instead"))
            elif key not in size:
                open_nodes.add(key)
                children = _children(node)
                todo.append((node, children))
                todo.extend((c, None) for c in reversed(children))
        bounds = limits.current()
        if height[id(root)] > bounds.nesting:  # the first collection past the limit, as building meets it
            node, level = root, 1
            while level <= bounds.nesting:
                node = next(c for c in _children(node) if level + height[id(c)] > bounds.nesting)
                level += 1
            raise _too_deep(node.start_mark, self.file)
        if size[id(root)] > bounds.yaml_values:  # the value that passes the limit, as building counts
            node, left = root, bounds.yaml_values - 1
            while left >= 0:
                for child in _children(node):
                    if size[id(child)] > left:
                        node, left = child, left - 1
                        break
                    left -= size[id(child)]
            what = "the YAML expands to too many values (through aliases?)"
            raise KspecError(Diagnostic("K101", limits.exceeded("yaml_values", what), self.span(node)))

    def build(self, node: yaml.Node) -> Any:
        """Located data for a node that :meth:`measure` has accepted."""
        tag = node.tag
        if tag == _STR_TAG and type(node) is yaml.ScalarNode:  # the common case, first
            return node.value
        if tag not in _PLAIN_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise KspecError(
                Diagnostic(
                    "K101",
                    f"YAML tag '{shown}' is not allowed: a spec is plain data",
                    self.span(node),
                    "remove the tag",
                )
            )
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item) for item in node.value]
        if isinstance(node, yaml.MappingNode):
            span = self.span
            out: dict[str, Any] = {SPAN_KEY: span(node)}
            key_spans: dict[str, Span] = {}
            merged: list[yaml.Node] = []
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.errors.append(Diagnostic("K102", "mapping keys must be plain names", span(key_node)))
                    continue
                if key_node.tag == _MERGE_TAG:  # `<<: *defaults`: merged after the keys written here
                    merged.append(value_node)
                    continue
                key = self.scalar(key_node)
                if not isinstance(key, str):
                    key = str(key) if not isinstance(key, bool) else str(key).lower()
                if key in out:
                    self.errors.append(Diagnostic("K102", f"duplicate key '{key}'", span(key_node)))
                    continue
                value = out[key] = self.build(value_node)
                # A mapping value already carries its own span: share it.
                key_spans[key] = value[SPAN_KEY] if type(value) is dict else span(value_node)
                key_spans["key:" + key] = span(key_node)
            for value_node in merged:
                self.merge(out, key_spans, value_node)
            out[KEY_SPANS_KEY] = key_spans
            return out
        raise KspecError(Diagnostic("K101", "unsupported YAML node", self.span(node)))  # pragma: no cover

    def merge(self, out: dict[str, Any], key_spans: dict[str, Span], value_node: yaml.Node) -> None:
        """YAML's merge key: the keys of a mapping (or of each mapping of a
        list, the first one winning) that ``out`` does not have yet, with
        the positions where they were written."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise KspecError(Diagnostic("K101", "a merge key ('<<') takes a mapping or a list of mappings",
                                            self.span(source), "<<: *defaults, with defaults: &defaults {...}"))
            built = self.build(source)
            spans = built[KEY_SPANS_KEY]
            for key, value in built.items():
                if key not in out and key not in (SPAN_KEY, KEY_SPANS_KEY):
                    out[key] = value
                    key_spans[key] = spans[key]
                    key_spans["key:" + key] = spans["key:" + key]


def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes a node's value is built from: a sequence's items, a
    mapping's values under plain keys (:meth:`_Located.build` drops the rest)."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [value for key, value in node.value if isinstance(key, yaml.ScalarNode)]
    return []


#: What libyaml refuses that the pure-Python loader describes: YAML errors,
#: and text it cannot encode to UTF-8 (a lone surrogate, from a ``str``).
_LIBYAML_REFUSES = (yaml.YAMLError, UnicodeEncodeError)


def _fast_compose(text: str) -> Any:
    """Compose with libyaml when available (about 10x faster); on any error,
    compose again with the pure-Python loader so messages stay the same."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except _LIBYAML_REFUSES:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _check_nesting(text: str, file: str) -> None:
    """Refuse YAML nested deeper than the ``nesting`` limit before composing
    it (composing is recursive, and would overflow the stack first). Reads
    the event stream, which takes constant memory."""
    limit = limits.current().nesting
    depth = 0
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > limit:
                    raise _too_deep(event.start_mark, file)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except (UnicodeEncodeError, yaml.reader.ReaderError):  # a lone surrogate, a control character: composing names it
        return
    except yaml.MarkedYAMLError as exc:
        if _libyaml_too_deep(exc):
            raise _too_deep(exc.problem_mark, file) from None
        # any other syntax error is reported by composing, with its position


class _Exact(Exception):
    """The document needs the exact, node-by-node path of :func:`_compose_nodes`:
    it has an alias or anchor, a tag, a key that is not a plain name or is
    doubled, a syntax error, or more values than the ``yaml_values`` limit.
    That path gives every message and position; the fast one gives none."""


_NO_KEY = object()


class _EventReader:
    """Located data straight from libyaml's event stream, in one pass and
    without recursion: what :class:`_Located` builds from composed nodes,
    equal value for value and span for span, for the documents specs are
    made of (plain scalars, mappings and sequences, no aliases or tags).

    Nesting is counted on the way, so the ``nesting`` limit stops the read
    at the first collection too deep, before anything deeper is built.
    Anything unusual raises :class:`_Exact`."""

    def __init__(self, file: str, loader: Any) -> None:
        self.file = file
        self.loader = loader
        #: Python values of plain scalars, by their text (``16`` -> 16, ``relu`` -> "relu").
        self.plain: dict[str, Any] = {}

    def scalar(self, event: Any) -> Any:
        """The Python value of a scalar event without a tag, resolved as the
        composer resolves it (only plain scalars can be other than strings)."""
        value = event.value
        if not event.implicit[0]:
            return value
        known = self.plain.get(value, _NO_KEY)
        if known is not _NO_KEY:
            return known
        tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR_TAG:
            result: Any = value
        elif tag in _PLAIN_TAGS:
            node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
            try:
                result = self.loader.construct_object(node, deep=True)
            except Exception:  # a value its tag's constructor refuses: the exact path reports it
                raise _Exact from None
            if type(result) is int and abs(result) >= limits.INT_LIMIT:
                raise _Exact  # so does an integer too large
        else:  # pragma: no cover - the safe resolver knows plain tags only
            raise _Exact
        self.plain[value] = result
        return result

    def read(self) -> Any:
        """The document's located data; :class:`_Exact` when it needs the exact path."""
        get, plain, scalar, file = self.loader.get_event, self.plain, self.scalar, self.file
        scalar_event, mapping_start, sequence_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
        mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
        limit = limits.current().nesting
        budget = limits.current().yaml_values
        if type(get()) is not yaml.StreamStartEvent or type(get()) is not yaml.DocumentStartEvent:
            raise _Exact  # an empty stream
        # One frame per open collection: [container, start mark, key spans,
        # pending key or _NO_KEY, its span]; a sequence's key spans are None.
        # ``spans`` is the innermost frame's key spans (None: no mapping open there).
        stack: list[list[Any]] = []
        frame: list[Any] = [None, None, None, None, None]
        spans: dict[str, Span] | None = None
        while True:
            event = get()
            kind = type(event)
            if kind is scalar_event:
                if event.anchor is not None or event.tag is not None:
                    raise _Exact
                value = event.value
                if event.implicit[0]:  # a plain scalar: maybe a number, a boolean, null ...
                    value = plain.get(value, _NO_KEY)
                    if value is _NO_KEY:
                        value = scalar(event)
                start, end = event.start_mark, event.end_mark
                if spans is not None and frame[3] is _NO_KEY:  # a mapping's key
                    if type(value) is not str:
                        value = str(value) if not isinstance(value, bool) else str(value).lower()
                    if value in frame[0]:
                        raise _Exact  # a duplicate key
                    frame[3] = value
                    # Spans are made positionally (file, line, column, end_line, end_column): one per key and value.
                    frame[4] = Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)
                    continue
            elif kind is mapping_start or kind is sequence_start:
                if event.anchor is not None or event.tag is not None:
                    raise _Exact
                if len(stack) >= limit:
                    raise _too_deep(event.start_mark, file)
                if spans is not None and frame[3] is _NO_KEY:
                    raise _Exact  # a collection as a key
                if kind is mapping_start:
                    spans = {}
                    frame = [{SPAN_KEY: None}, event.start_mark, spans, _NO_KEY, None]
                else:
                    spans = None
                    frame = [[], event.start_mark, None, None, None]
                stack.append(frame)
                continue
            elif kind is mapping_end or kind is sequence_end:
                done = stack.pop()
                value, start, end = done[0], done[1], event.end_mark
                if kind is mapping_end:
                    value[SPAN_KEY] = Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)
                    value[KEY_SPANS_KEY] = done[2]
                if not stack:
                    budget -= 1
                    if budget < 0:
                        raise _Exact
                    return self.finish(value)
                frame = stack[-1]
                spans = frame[2]
            else:  # an alias
                raise _Exact
            budget -= 1
            if budget < 0:
                raise _Exact  # the exact path says where the limit was reached
            if spans is None:
                if frame[0] is None:  # the document is one scalar
                    return self.finish(value)
                frame[0].append(value)
                continue
            key = frame[3]
            frame[0][key] = value
            spans[key] = (value[SPAN_KEY] if type(value) is dict
                          else Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1))
            spans["key:" + key] = frame[4]
            frame[3] = _NO_KEY

    def finish(self, root: Any) -> Any:
        """``root``, once the stream is seen to hold that one document only."""
        get = self.loader.get_event
        if type(get()) is not yaml.DocumentEndEvent or type(get()) is not yaml.StreamEndEvent:
            raise _Exact  # a second document: the exact path says so
        return root


def _libyaml_too_deep(exc: yaml.YAMLError) -> bool:
    """Whether ``exc`` is libyaml's own nesting bound, reached while
    scanning ahead, rather than a syntax error."""
    return "nesting depth" in str(getattr(exc, "problem", ""))


def _too_deep(mark: Any, file: str) -> KspecError:
    """The error for YAML nested deeper than the ``nesting`` limit, at ``mark``."""
    span = Span(file=file, line=mark.line + 1, column=mark.column + 1) if mark else Span(file=file)
    return KspecError(Diagnostic("K101", limits.exceeded("nesting", "YAML nesting is too deep"), span))


def _compose(text: str, file: str) -> Any:
    """Located data for YAML text: in one pass over libyaml's events when
    libyaml is installed and the document is plain (the usual case), else
    through composed nodes (:func:`_compose_nodes`), which also gives every
    error its message and position."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            loader = fast(text)
        except UnicodeEncodeError:  # a lone surrogate, which libyaml cannot take in
            return _compose_nodes(text, file)
        try:
            return _EventReader(file, loader).read()
        except _Exact:
            pass
        except yaml.YAMLError as exc:
            if not _libyaml_too_deep(exc):  # that one the exact path reports as too deep
                _raise_parse_error(text, file)
        finally:
            loader.dispose()
    return _compose_nodes(text, file)


def _raise_parse_error(text: str, file: str) -> None:
    """After libyaml stopped at an error: raise the error PyYAML's own
    parser finds, as the exact path words it, from the parser's events
    alone (composing nodes for the message took as long again, and the
    exact path first ran libyaml twice more to the same error). Returns,
    for the exact path to run, when PyYAML's parser finds no error, or
    meets first what its composer reports before a later syntax error: an
    anchor, an alias or a second document."""
    documents = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            kind = type(event)
            if kind is yaml.AliasEvent or getattr(event, "anchor", None) is not None:
                return
            if kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    return
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None


def _yaml_error(exc: yaml.YAMLError, text: str, file: str) -> KspecError:
    """The K101 error for a YAML error of PyYAML's own loader."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        span = Span(file=file, line=mark.line + 1, column=mark.column + 1) if mark else Span(file=file)
        problem = exc.problem or exc.context or "invalid YAML"
        notes: tuple[tuple[str, Span | None], ...] = ()
        ctx = exc.context_mark
        if exc.context and ctx is not None and exc.problem_mark is not None and ctx.line != exc.problem_mark.line:
            notes = ((exc.context, Span(file=file, line=ctx.line + 1, column=ctx.column + 1)),)
        return KspecError(Diagnostic("K101", f"YAML syntax error: {problem}", span, notes=notes))
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML never allows (NUL, most controls)
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        message = f"YAML syntax error: character {char!r} is not allowed in YAML"
        return KspecError(Diagnostic("K101", message, Span(file=file, line=line, column=column)))
    return KspecError(Diagnostic("K101", f"YAML syntax error: {exc}", Span(file=file)))


def _compose_nodes(text: str, file: str) -> Any:
    """Located data through composed nodes: the exact path, with every
    message and position of a YAML error."""
    located = _Located(file)
    # Collections nest through brackets, lines, and "- ", "? " or ": " on one line.
    marks = sum(text.count(c) for c in "[{\n-?:")
    if marks > limits.current().nesting:  # else it cannot nest
        _check_nesting(text, file)
    try:
        node = _fast_compose(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None
    if node is None:
        raise KspecError(Diagnostic("K102", "the file is empty: expected a mapping with 'models'", Span(file=file)))
    located.measure(node)
    try:
        data = located.build(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        span = Span(file=file, line=mark.line + 1, column=mark.column + 1) if mark else Span(file=file)
        raise KspecError(Diagnostic("K101", f"YAML error: {exc.problem}", span)) from None
    if located.errors:
        raise KspecError(located.errors)
    return data


# ---------------------------------------------------------------------------
# located data -> IR dictionaries (short-hands expanded)


def _sp(data: Any) -> Span | None:
    return data.get(SPAN_KEY) if isinstance(data, dict) else None


def _ks(data: Any, key: str) -> Span | None:
    if isinstance(data, dict):
        spans = data.get(KEY_SPANS_KEY, {})
        return spans.get(key) or data.get(SPAN_KEY)
    return None


def _keys(data: dict[str, Any]) -> list[str]:
    return [k for k in data if k not in (SPAN_KEY, KEY_SPANS_KEY)]


def _strip(data: Any) -> Any:
    """Located data -> plain data (spans dropped)."""
    if isinstance(data, dict):
        return {k: _strip(v) for k, v in data.items() if k not in (SPAN_KEY, KEY_SPANS_KEY)}
    if isinstance(data, list):
        return [_strip(v) for v in data]
    return data


_MODEL_KEYS = {"name", "kind", "structure", "inputs", "layers", "nodes", "outputs", "input"}
_STRUCTURE_KEYS = {"inputs", "outputs"}
_NODE_KEYS = {"name", "from", "apply"}
_STEP_FULL = {"layer", "ref", "args", "kwargs", "call"}
_INPUT_KEYS = {"shape", "dtype", "batch_size", "sparse"}
_VALUE_SUGAR = {"fn": "call"}


#: Numbers YAML 1.1 leaves as strings (``1e-4``: no dot before the exponent).
_EXPONENT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


def _float_text(value: Any) -> Any:
    """``value``, or the float it spells when YAML 1.1 left it a string (``1e-4``)."""
    return float(value) if isinstance(value, str) and _EXPONENT.fullmatch(value) else value


class _Normalizer:
    """Turns the YAML form's short-hands into IR dictionaries.

    Problems are collected in ``errors``; the result is still returned so
    that more than one problem can be reported."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[Diagnostic] = []
        self.named: set[str] = set()

    def error(self, message: str, span: Span | None, hint: str | None = None, code: str = "K102") -> None:
        self.errors.append(Diagnostic(code, message, span or Span(file=self.file), hint))

    def expect_keys(self, data: dict[str, Any], allowed: set[str], what: str) -> None:
        for key in _keys(data):
            if key not in allowed:
                self.error(
                    f"unknown field '{key}' in {what}",
                    _ks(data, "key:" + key),
                    did_you_mean(key, allowed) or f"allowed fields: {', '.join(sorted(allowed))}",
                )

    # -- spec ---------------------------------------------------------------

    def spec(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.error("a spec must be a mapping with a 'models' list", None)
            return {"models": []}
        self.expect_keys(data, {"models", "compile", "train", "params", "blocks", "uses"}, "the spec")
        models = data.get("models")
        if models is None:
            self.error("a spec needs a 'models' list", _sp(data))
            return {"models": []}
        if not isinstance(models, list):
            self.error("'models' must be a list of models", _ks(data, "models"))
            return {"models": []}
        for m in models:
            if isinstance(m, dict) and isinstance(m.get("name"), str):
                self.named.add(m["name"])
            if isinstance(m, dict) and isinstance(m.get("layers"), dict):
                self.named.update(_keys(m["layers"]))
        return {
            SPAN_KEY: _sp(data),
            "models": [self.model(m) for m in models],
            "compile": self.sections(data.get("compile"), "compile", _ks(data, "compile")),
            "train": self.sections(data.get("train"), "train", _ks(data, "train")),
            "params": self.params(data.get("params"), _ks(data, "params"), "params", spaces=True),
            "blocks": self.blocks(data.get("blocks"), _ks(data, "blocks")),
            "uses": self.uses(data.get("uses"), _ks(data, "uses")),
        }

    # -- the language's abstraction layer: params, blocks, uses ---------------

    def uses(self, data: Any, span: Span | None) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, list) or not all(isinstance(u, str) for u in data):
            self.error("'uses' is a list of file names", span)
            return []
        return list(data)

    def params(self, data: Any, span: Span | None, what: str, spaces: bool = False) -> list[Any]:
        """File parameters (``spaces``: they may have a search space, ``in:``) or a block's."""
        if data is None:
            return []
        if not isinstance(data, dict):
            self.error(f"'{what}' maps parameter names to {{type: ..., default: ...}}", span)
            return []
        out = []
        for name in _keys(data):
            body = data[name]
            if not isinstance(body, dict):
                body = {SPAN_KEY: _ks(data, name), "default": body}
            self.expect_keys(body, {"type", "default", "in"} if spaces else {"type", "default"}, "a parameter")
            param = {
                SPAN_KEY: _ks(data, "key:" + name),
                "name": name,
                "type": body.get("type"),
                "default": self.value(_float_text(body.get("default")) if body.get("type") == "float"
                                      else body.get("default")),
                "has_default": "default" in body,
            }
            if spaces and "in" in body:
                param["space"] = self.space(body["in"], _ks(body, "in"))
            out.append(param)
        return out

    def space(self, data: Any, span: Span | None) -> dict[str, Any] | None:
        """``in: [32, 64]``, ``in: {range: [16, 128, 16]}`` or ``in: {log: [0.0001, 0.01]}``."""
        form = "in: [32, 64, 128], in: {range: [16, 128, 16]} or in: {log: [0.0001, 0.01]}"
        if isinstance(data, list):
            if not all(x is None or isinstance(x, (bool, int, float, str)) for x in data):
                self.error("the choices of a search space are plain values", span,
                           "write numbers, strings, true/false or null")
                return None
            return {SPAN_KEY: span, "kind": "choice", "values": list(data)}
        keys = _keys(data) if isinstance(data, dict) else []
        if len(keys) != 1 or keys[0] not in ("range", "log"):
            self.error("a search space is a list of choices, {range: [...]} or {log: [...]}", span, form)
            return None
        kind = keys[0]
        bounds = data[kind]
        if isinstance(bounds, list):  # YAML 1.1 reads 1e-4 as a string; a bound is a number
            bounds = [_float_text(x) for x in bounds]
        if not isinstance(bounds, list) or len(bounds) not in (2, 3) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in bounds):
            step = "step" if kind == "range" else "factor"
            self.error(f"'{kind}' in a search space takes 2 or 3 numbers: [low, high] or [low, high, {step}]",
                       _ks(data, kind))
            return None
        return {SPAN_KEY: span, "kind": kind, "values": list(bounds)}

    def blocks(self, data: Any, span: Span | None) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, dict):
            self.error("'blocks' maps block names to {inputs, params, body, return}", span)
            return []
        out = []
        for name in _keys(data):
            body = data[name]
            if not isinstance(body, dict):
                self.error(
                    f"block '{name}' must be a mapping with 'inputs', 'params', 'body' and 'return'", _ks(data, name)
                )
                continue
            self.expect_keys(body, {"inputs", "params", "body", "return"}, "a block")
            returns = body.get("return", [])
            returns = returns if isinstance(returns, list) else [returns]
            out.append(
                {
                    SPAN_KEY: _ks(data, "key:" + name),
                    "name": name,
                    "inputs": _strip(body.get("inputs", [])),
                    "params": self.params(body.get("params"), _ks(body, "params"), "params"),
                    "body": self.block_body(body.get("body", []), _ks(body, "body")),
                    "returns": [self.return_expr(r, _ks(body, "return")) for r in returns],
                }
            )
        return out

    def block_body(self, data: Any, span: Span | None) -> list[Any]:
        if not isinstance(data, list):
            self.error("a block's 'body' is a list of nodes", span)
            return []
        out = []
        for item in data:
            if isinstance(item, dict) and "for" in item:
                self.expect_keys(item, {"for", "range", "in", "body"}, "a loop")
                bounds = item.get("range", [])
                loop = {
                    SPAN_KEY: _sp(item),
                    "kind": "for",
                    "var": item["for"],
                    "range": self.value(bounds if isinstance(bounds, list) else [bounds]),
                    "body": self.block_body(item.get("body", []), _ks(item, "body")),
                }
                if "in" in item:
                    loop["over"] = self.value(item["in"])
                out.append(loop)
            elif isinstance(item, dict) and "if" in item:
                self.expect_keys(item, {"if", "then", "else"}, "an 'if'")
                out.append(
                    {
                        SPAN_KEY: _sp(item),
                        "kind": "if",
                        "test": self.value(item["if"]),
                        "body": self.block_body(item.get("then", []), _ks(item, "then")),
                        "orelse": self.block_body(item.get("else", []), _ks(item, "else")),
                    }
                )
            else:
                out.append(self.node(item))
        return out

    def return_expr(self, data: Any, span: Span | None) -> Any:
        if isinstance(data, str):
            return {SPAN_KEY: span, "inputs": [data], "steps": []}
        if isinstance(data, dict):
            self.expect_keys(data, {"from", "apply"}, "a returned value")
            return self.expr(data)
        self.error("a block returns tensor names or {from, apply} expressions", span)
        return {"inputs": ["?"]}

    def sections(self, data: Any, what: str, span: Span | None) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, dict):
            self.error(f"'{what}' maps model names to their {what} settings", span)
            return []
        out = []
        for name in _keys(data):
            body = data[name]
            if not isinstance(body, dict):
                self.error(f"the {what} settings of '{name}' must be a mapping", _ks(data, name))
                continue
            out.append(
                {
                    SPAN_KEY: _ks(data, "key:" + name),
                    KEY_SPANS_KEY: dict(_sp_map(body)),
                    "model": name,
                    "settings": {k: self.value(body[k]) for k in _keys(body)},
                }
            )
        return out

    def model(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.error("a model must be a mapping with 'name' and 'inputs'/'outputs' or 'kind: sequential'", None)
            return data
        self.expect_keys(data, _MODEL_KEYS, "a model")
        kind = data.get("kind", "functional")
        out: dict[str, Any] = {SPAN_KEY: _sp(data), KEY_SPANS_KEY: data.get(KEY_SPANS_KEY, {}), "kind": kind}
        if "name" in data:
            out["name"] = data["name"]
        if kind == "sequential":
            for bad in ("inputs", "nodes", "outputs"):
                if bad in data:
                    self.error(f"a sequential model has no '{bad}'; use 'input' and 'layers'", _ks(data, "key:" + bad))
            if "structure" in data:
                self.error("a sequential model has one input and one output: it has no 'structure'",
                           _ks(data, "key:structure"))
            if data.get("input") is not None:
                out["input"] = self.input("input", data["input"], _ks(data, "input"))
            layers = data.get("layers", [])
            if not isinstance(layers, list):
                self.error("'layers' of a sequential model must be a list", _ks(data, "layers"))
                layers = []
            out["layers"] = [self.callee(x, _ks(data, "layers")) for x in layers]
            return out
        if kind != "functional":
            self.error(f"unknown model kind '{kind}'", _ks(data, "kind"), "use 'functional' or 'sequential'")
            return out
        if "input" in data:
            self.error("a functional model lists 'inputs'", _ks(data, "key:input"))
        if "structure" in data:
            out["structure"] = self.structure(data["structure"], _ks(data, "structure"))
        out["inputs"] = self.inputs(data.get("inputs", {}), _ks(data, "inputs"))
        out["layers"] = self.layer_defs(data.get("layers", {}), _ks(data, "layers"))
        nodes = data.get("nodes", [])
        if not isinstance(nodes, list):
            self.error("'nodes' must be a list", _ks(data, "nodes"))
            nodes = []
        out["nodes"] = [self.node(n) for n in nodes]
        out["outputs"] = self.outputs(data.get("outputs", {}), _ks(data, "outputs"))
        return out

    def structure(self, data: Any, span: Span | None) -> Any:
        """``structure: {inputs: dict, outputs: list}`` (pydantic checks the values)."""
        if not isinstance(data, dict):
            self.error("'structure' maps 'inputs' and/or 'outputs' to 'list' or 'dict'", span)
            return {}
        self.expect_keys(data, _STRUCTURE_KEYS, "the structure")
        return {k: v for k, v in data.items() if k in _STRUCTURE_KEYS | {SPAN_KEY, KEY_SPANS_KEY}}

    # -- inputs -------------------------------------------------------------

    def inputs(self, data: Any, span: Span | None) -> list[Any]:
        if isinstance(data, dict):
            return [self.input(k, data[k], _ks(data, k)) for k in _keys(data)]
        if isinstance(data, list):
            result = []
            for item in data:
                if isinstance(item, dict) and "name" in item:
                    rest = {k: v for k, v in item.items() if k != "name"}
                    result.append(self.input(item["name"], rest, _sp(item)))
                else:
                    self.error("an input in a list needs a 'name'", _sp(item) or span)
            return result
        self.error("'inputs' must map input names to shapes", span)
        return []

    def input(self, name: Any, data: Any, span: Span | None) -> Any:
        if isinstance(data, list) or data is None:
            return {SPAN_KEY: span, "name": name, "shape": self.value(data) if data is not None else []}
        if isinstance(data, dict):
            self.expect_keys(data, _INPUT_KEYS | {"name"}, "an input")
            out = {k: self.value(v) if k == "shape" else _strip(v) for k, v in data.items()
                   if k not in (SPAN_KEY, KEY_SPANS_KEY)}
            out.setdefault("name", name)
            out[SPAN_KEY] = _sp(data) or span
            out[KEY_SPANS_KEY] = data.get(KEY_SPANS_KEY, {})
            return out
        self.error("an input is a shape list or a mapping with 'shape' and 'dtype'", span)
        return {"name": name, "shape": []}

    # -- named layers -------------------------------------------------------

    def layer_defs(self, data: Any, span: Span | None) -> list[Any]:
        if not isinstance(data, dict):
            self.error("'layers' must map names to a layer or a list of layers", span)
            return []
        out = []
        for name in _keys(data):
            value = data[name]
            items = value if isinstance(value, list) else [value]
            stack = [self.callee(x, _ks(data, name)) for x in items]
            out.append({SPAN_KEY: _ks(data, "key:" + name), "name": name, "stack": stack})
        return out

    # -- nodes and outputs --------------------------------------------------

    def node(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.error("a node is a mapping with 'name', 'from' and 'apply'", None)
            return {}
        self.expect_keys(data, _NODE_KEYS, "a node")
        if "name" not in data:
            self.error("a node needs a 'name'", _sp(data))
        name = data.get("name")
        targets = name if isinstance(name, list) else [name]
        return {SPAN_KEY: _sp(data), "targets": targets, "value": self.expr(data)}

    def outputs(self, data: Any, span: Span | None) -> list[Any]:
        if isinstance(data, dict):
            result = []
            for name in _keys(data):
                value = data[name]
                if isinstance(value, str):
                    expr = {SPAN_KEY: _ks(data, name), "inputs": [value], "steps": []}
                elif isinstance(value, dict):
                    self.expect_keys(value, {"from", "apply"}, "an output")
                    expr = self.expr(value)
                else:
                    self.error("an output is a tensor name or a mapping with 'from' and 'apply'", _ks(data, name))
                    continue
                result.append({SPAN_KEY: _ks(data, "key:" + name), "name": name, "value": expr})
            return result
        self.error("'outputs' must map output names to tensors", span)
        return []

    def expr(self, data: dict[str, Any]) -> Any:
        src = data.get("from", [])
        inputs = src if isinstance(src, list) else [src]
        apply = data.get("apply", [])
        steps = apply if isinstance(apply, list) else [apply]
        return {
            SPAN_KEY: _sp(data),
            "inputs": inputs,
            "steps": [self.step(s, _ks(data, "apply")) for s in steps],
        }

    # -- layers -------------------------------------------------------------

    def step(self, data: Any, span: Span | None) -> Any:
        call_kwargs: dict[str, Any] = {}
        if isinstance(data, dict) and "call" in data:
            raw = data["call"]
            if not isinstance(raw, dict):
                self.error("'call' holds the call's keyword arguments as a mapping", _ks(data, "call"))
            else:
                call_kwargs = {k: self.call_arg(raw[k]) for k in _keys(raw)}
            data = {k: v for k, v in data.items() if k != "call"}
            data[KEY_SPANS_KEY] = {
                k: v for k, v in data.get(KEY_SPANS_KEY, {}).items() if k not in ("call", "key:call")
            }
        return {SPAN_KEY: _sp(data) or span, "layer": self.callee(data, span), "call_kwargs": call_kwargs}

    def call_arg(self, data: Any) -> Any:
        if isinstance(data, str):
            return {"kind": "ref", "name": data}
        if isinstance(data, list):
            return [self.call_arg(v) for v in data]
        return self.value(data)

    def callee(self, data: Any, span: Span | None) -> Any:
        if isinstance(data, str):
            if data in self.named:
                return {SPAN_KEY: span, "kind": "ref", "ref": data}
            return {SPAN_KEY: span, "kind": "layer", "type": MERGE_HELPERS.get(data, data)}
        if not isinstance(data, dict):
            self.error("a layer is a name, or a mapping such as {Dense: {units: 8}}", span)
            return {"kind": "layer", "type": "?"}
        keys = _keys(data)
        if "op" in keys:
            return self.op(data)
        if "ref" in keys:
            self.expect_keys(data, {"ref"}, "a layer reference")
            return {SPAN_KEY: _sp(data), "kind": "ref", "ref": data["ref"]}
        if "layer" in keys:
            self.expect_keys(data, {"layer", "args", "kwargs"}, "a layer")
            return {
                SPAN_KEY: _sp(data),
                KEY_SPANS_KEY: dict(_sp_map(data.get("kwargs"))),
                "kind": "layer",
                "type": data["layer"],
                "args": self.value(data.get("args", [])),
                "kwargs": self.value(data.get("kwargs", {})),
            }
        if len(keys) != 1:
            self.error(
                "a layer mapping has exactly one key, the layer type: {Dense: {units: 8}}",
                _sp(data),
                f"found keys: {', '.join(keys)}" if keys else None,
            )
            return {"kind": "layer", "type": "?"}
        type_ = keys[0]
        body = data[type_]
        out: dict[str, Any] = {SPAN_KEY: _ks(data, "key:" + type_), "kind": "layer",
                               "type": MERGE_HELPERS.get(type_, type_) if type_ not in self.named else type_}
        if body is None:
            return out
        if isinstance(body, list):
            out["args"] = self.value(body)
            return out
        if isinstance(body, dict):
            kwargs = {k: body[k] for k in _keys(body) if k != "args"}
            if "args" in body:
                args = body["args"]
                out["args"] = self.value(args if isinstance(args, list) else [args])
            out["kwargs"] = {k: self.value(v) for k, v in kwargs.items()}
            out[KEY_SPANS_KEY] = dict(_sp_map(body))
            return out
        out["args"] = [self.value(body)]
        return out

    def op(self, data: dict[str, Any]) -> Any:
        """``{op: add, args: [3.0], kwargs: {...}}``: a ``keras.ops`` operation."""
        self.expect_keys(data, {"op", "args", "kwargs"}, "an operation")
        fn = data.get("op")
        if isinstance(fn, str) and fn.startswith("ops."):
            fn = fn[4:]
        args = data.get("args", [])
        return {
            SPAN_KEY: _sp(data),
            KEY_SPANS_KEY: dict(_sp_map(data.get("kwargs"))),
            "kind": "op",
            "fn": fn,
            "args": self.value(args if isinstance(args, list) else [args]),
            "kwargs": self.value(data.get("kwargs", {})),
        }

    def value(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.value(v) for v in data]
        if isinstance(data, dict):
            keys = _keys(data)
            if keys == ["expr"]:
                return self.expression(data["expr"], _ks(data, "expr"))
            if keys == ["ref"] and isinstance(data["ref"], str):
                return {SPAN_KEY: _sp(data), "kind": "ref", "name": data["ref"]}
            if "op" in keys and "kind" not in keys:
                return self.op(data)
            if "kind" not in keys and "fn" in keys:
                self.expect_keys(data, {"fn", "args", "kwargs"}, "a call value")
                return {
                    "kind": "call",
                    "fn": data["fn"],
                    "args": self.value(data.get("args", [])),
                    "kwargs": self.value(data.get("kwargs", {})),
                }
            if "kind" in keys and data.get("kind") == "dict":  # a dict literal, its keys as written
                items = data.get("items", {})
                if isinstance(items, dict):  # not read as a value itself: ``{fn: f}`` there is no call
                    return {"kind": "dict", "items": {k: self.value(items[k]) for k in _keys(items)}}
                return {"kind": "dict", "items": self.value(items)}
            if "kind" in keys:
                return {k: self.value(data[k]) for k in keys}
            return {k: self.value(data[k]) for k in keys}
        return data

    def expression(self, text: Any, span: Span | None) -> Any:
        """``{expr: "4 * filters"}``: parameter arithmetic in .kspec syntax."""
        from kspec.spec.kspec_form import parse_expression

        if not isinstance(text, str):
            self.error("'expr' holds a .kspec expression as a string, e.g. {expr: 4 * filters}", span)
            return None
        try:
            return parse_expression(text, span)
        except KspecError as exc:
            self.errors += exc.diagnostics
            return None


def _sp_map(data: Any) -> dict[str, Span]:
    if isinstance(data, dict):
        return {k: v for k, v in data.get(KEY_SPANS_KEY, {}).items() if not k.startswith("key:")}
    return {}


# ---------------------------------------------------------------------------
# pydantic errors -> located diagnostics


def _locate(data: Any, loc: tuple[int | str, ...]) -> Span | None:
    """The span of the deepest located mapping along ``loc`` in ``data``."""
    best = _sp(data)
    node = data
    for part in loc:
        if isinstance(node, dict):
            if isinstance(part, str) and part in node:
                best = _ks(node, part) or best
                node = node[part]
            else:
                break
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            best = _sp(node) or best
        else:
            break
        if isinstance(node, dict) and node.get(SPAN_KEY) is not None:
            best = node[SPAN_KEY]
    return best


def _describe(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p[:1].isupper() and "[" in p)]
    return ".".join(parts)


def _validation_diagnostics(exc: Any, data: Any, file: str) -> list[Diagnostic]:
    """Located diagnostics for pydantic-core's ``ValidationError`` ``exc``."""
    diags = []
    seen: set[tuple[object, ...]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(
            p
            for p in err["loc"]
            if not (isinstance(p, str) and ("[" in p or p in ("function-after", "functional", "sequential")))
        )
        span = _locate(data, loc) or Span(file=file)
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        where = _describe(loc)
        key = (span.line, span.column, msg)
        if key in seen:
            continue
        seen.add(key)
        text = f"{msg} (at '{where}')" if where else msg
        diags.append(Diagnostic("K102", text, span))
    return diags


def load_yaml(text: str, file: str = "<string>") -> ir.Spec:
    """Parse YAML text into a validated :class:`~kspec.spec.ir.Spec`.

    Raises :class:`KspecError` with located diagnostics on any problem."""
    raw = _compose(text, file)
    norm = _Normalizer(file)
    data = norm.spec(raw)
    if norm.errors:
        raise KspecError(norm.errors)
    try:
        return ir.Spec.model_validate(data)
    except core().ValidationError as exc:
        raise KspecError(_validation_diagnostics(exc, data, file)) from None
