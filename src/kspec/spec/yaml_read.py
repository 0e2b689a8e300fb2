"""Reading YAML text into located data with PyYAML: every document, and
every YAML error with its message and position.

A check reads a spec with :mod:`kspec.spec.yaml_plain` first, which needs
no PyYAML; this module reads the documents it declines. A plain document
(the usual spec) is read in one pass over libyaml's events
(:class:`_EventReader`); anything else (aliases, tags, doubled keys, syntax
errors, no libyaml) goes through composed nodes (:func:`_compose_nodes`),
which give every message and position. Both give the same located data.
A syntax error libyaml stops at is described from the events of PyYAML's
own parser (:func:`_raise_parse_error`), with the message and position the
composed nodes would give.
"""

from __future__ import annotations

from typing import Any

import yaml

from kspec.spec import limits
from kspec.spec.diagnostics import Diagnostic, KspecError
from kspec.spec.ir import KEY_SPANS_KEY, SPAN_KEY, Span
from kspec.spec.yaml_plain import key_text

__all__ = ["read_located"]


_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
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
        # An integer of more digits than Python reads, a date that does not exist, or a value its explicit
        # tag's constructor fails on (PyYAML raises what it meets: '!!int ""' IndexError, '!!bool maybe' KeyError).
        except Exception as exc:
            if node.tag == _INT_TAG and node.value.lstrip("+-").replace("_", "").isdigit():
                raise self._too_large(node) from None
            dated = node.tag == _TIMESTAMP_TAG and isinstance(exc, ValueError)  # "month must be in 1..12"
            reason = str(exc) if dated else f"it is not a valid !!{node.tag.rpartition(':')[2]}"
            raise KspecError(Diagnostic("K101", f"this value cannot be read: {reason}", self.span(node),
                                        "write it without a tag, quoted, to make it a string")) from None
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
                key = key_text(self.scalar(key_node))
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
                        value = key_text(value)
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


def read_located(text: str, file: str) -> Any:
    """The located data of YAML text (mappings are dicts holding SPAN_KEY
    and KEY_SPANS_KEY, sequences lists): in one pass over libyaml's events when
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
