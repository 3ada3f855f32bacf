"""The `serving` block of an env's terraform.tfvars: read it, and edit it surgically. Pure.

`mlops release`, `mlops canary` and `mlops endpoint rollback` change what an env serves
through Git, by editing `serving` in `envs/<env>/terraform.tfvars`. A human wrote that
file, with comments and a layout of their own, so an edit rewrites only the spans whose
value changes and keeps every other byte:

- `enabled = false` -> `true`: the value token only;
- `active_release = "a"` -> `"b"`: the string only (added at the end if missing);
- `releases = { ... }`: per release entry. A removed release loses its lines (and the
  comment lines right above it, which describe it); a changed one gets a new value; a new
  one is inserted before the closing brace. Comments between entries stay. When the
  releases are not written one entry per line (`{ a = {...}, b = {...} }`), the whole
  value is rewritten. No `releases` at all: the block is added at the end of `serving`.

What is written is what `terraform fmt` writes (the command still runs `terraform fmt`
on the result, and a test checks it changes nothing). After editing, the new text is
parsed again and must read back as the intended value, or the edit is refused.

The parser reads HCL's literal values only (objects, tuples, strings, numbers, bools,
null): what a tfvars file holds. An expression (a function call, a reference, a heredoc)
inside `serving` is refused with a message, never guessed at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops.core.hcl import Token, quote, tokens

INDENT = "  "


class TfvarsError(ValueError):
    """The file cannot be read or edited safely; the message says where and why."""


@dataclass(frozen=True)
class Node:
    """A literal value and where it is in the text (text[start:end])."""

    kind: str  # "object", "tuple", "string", "number", "bool", "null"
    start: int
    end: int
    value: Any = None  # str | float | bool | None for scalars
    entries: tuple[Entry, ...] = ()  # objects
    items: tuple[Node, ...] = ()  # tuples

    def entry(self, key: str) -> Entry | None:
        return next((e for e in self.entries if e.key == key), None)

    def python(self) -> Any:
        """The plain Python value (dict, list, str, int/float, bool, None)."""
        if self.kind == "object":
            return {e.key: e.value.python() for e in self.entries}
        if self.kind == "tuple":
            return [i.python() for i in self.items]
        return self.value


@dataclass(frozen=True)
class Entry:
    key: str
    key_start: int
    value: Node


class _Parser:
    def __init__(self, text: str, items: Sequence[Token]) -> None:
        self.text = text
        self.items = items
        self.pos = 0

    def where(self, index: int) -> str:
        return f"line {self.text.count(chr(10), 0, index) + 1}"

    def peek(self) -> Token | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise TfvarsError("the file ends inside a value")
        self.pos += 1
        return tok

    def expect(self, value: str) -> Token:
        tok = self.take()
        if tok.kind != "punct" or tok.value != value:
            raise TfvarsError(f"expected {value!r} at {self.where(tok.start)}, found "
                              f"{self.text[tok.start:tok.end]!r}")
        return tok

    def value(self) -> Node:
        tok = self.take()
        if tok.kind == "string":
            if tok.interpolated:
                raise TfvarsError(f"a template string at {self.where(tok.start)}: mlops edits "
                                  "literal values only")
            return Node("string", tok.start, tok.end, tok.value)
        if tok.kind == "number":
            return Node("number", tok.start, tok.end, _number(tok.value))
        if tok.kind == "punct" and tok.value == "-":
            nxt = self.take()
            if nxt.kind != "number" or nxt.start != tok.end:
                raise TfvarsError(f"an expression at {self.where(tok.start)}: mlops edits "
                                  "literal values only")
            return Node("number", tok.start, nxt.end, -_number(nxt.value))
        if tok.kind == "ident" and tok.value in ("true", "false"):
            return Node("bool", tok.start, tok.end, tok.value == "true")
        if tok.kind == "ident" and tok.value == "null":
            return Node("null", tok.start, tok.end, None)
        if tok.kind == "punct" and tok.value == "{":
            return self.obj(tok)
        if tok.kind == "punct" and tok.value == "[":
            return self.tup(tok)
        raise TfvarsError(f"an expression at {self.where(tok.start)} "
                          f"({self.text[tok.start:tok.end]!r}...): mlops edits literal "
                          "values only; edit this block by hand")

    def obj(self, opening: Token) -> Node:
        entries: list[Entry] = []
        while True:
            tok = self.take()
            if tok.kind == "punct" and tok.value == "}":
                return Node("object", opening.start, tok.end, entries=tuple(entries))
            if tok.kind == "punct" and tok.value == ",":
                continue
            if tok.kind not in ("ident", "string") or (tok.kind == "string" and tok.interpolated):
                raise TfvarsError(f"expected a key at {self.where(tok.start)}, found "
                                  f"{self.text[tok.start:tok.end]!r}")
            sep = self.take()
            if sep.kind != "punct" or sep.value not in "=:":
                raise TfvarsError(f"expected '=' after {tok.value!r} at "
                                  f"{self.where(sep.start)}")
            if any(e.key == tok.value for e in entries):
                raise TfvarsError(f"{tok.value!r} is set twice at {self.where(tok.start)}")
            entries.append(Entry(tok.value, tok.start, self.value()))

    def tup(self, opening: Token) -> Node:
        items: list[Node] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise TfvarsError("the file ends inside a list")
            if tok.kind == "punct" and tok.value == "]":
                self.pos += 1
                return Node("tuple", opening.start, tok.end, items=tuple(items))
            if tok.kind == "punct" and tok.value == ",":
                self.pos += 1
                continue
            items.append(self.value())


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value


def find_block(text: str, name: str) -> Node | None:
    """The object value of the top-level attribute `name = { ... }`, or None."""
    items = list(tokens(text))
    depth = 0
    for index, tok in enumerate(items):
        if tok.kind == "punct" and tok.value in "{[(":
            depth += 1
        elif tok.kind == "punct" and tok.value in "}])":
            depth = max(0, depth - 1)
        elif (depth == 0 and tok == Token("ident", name) and index + 2 < len(items)
              and items[index + 1] == Token("punct", "=")):
            if items[index + 2] != Token("punct", "{"):
                raise TfvarsError(f"{name} is not an object literal "
                                  f"({_line_of(text, tok.start)}); mlops edits literal values "
                                  "only")
            parser = _Parser(text, items)
            parser.pos = index + 3
            return parser.obj(items[index + 2])
    return None


def read_block(text: str, name: str) -> dict[str, Any]:
    """`name = { ... }` as a plain dict (TfvarsError when missing or not literal)."""
    node = find_block(text, name)
    if node is None:
        raise TfvarsError(f"there is no top-level `{name} = {{ ... }}` block")
    value: dict[str, Any] = node.python()
    return value


# ---------------------------------------------------------------------------------------
# Rendering literal values as `terraform fmt` writes them
# ---------------------------------------------------------------------------------------


def render_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TfvarsError(f"{value} cannot be written in HCL")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return quote(value)
    raise TfvarsError(f"cannot write a {type(value).__name__} in HCL")


def _is_inline(value: Any) -> bool:
    return not isinstance(value, Mapping) or not value


def render_inline(value: Any) -> str:
    """One-line form (scalars, lists of scalars, small maps)."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {render_inline(v)}" for k, v in value.items()) \
            + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_inline(v) for v in value) + "]"
    return render_scalar(value)


def _key(key: str) -> str:
    simple = key[:1].isalpha() and all(c.isalnum() or c in "_-" for c in key)
    return key if simple else quote(key)


def render_object(value: Mapping[str, Any], indent: str, *,
                  inline_maps: frozenset[str] = frozenset()) -> str:
    """`{ ... }` on several lines; its entries at indent + 2 spaces, `=` aligned in runs
    of one-line entries (as terraform fmt does); the closing brace at `indent`. Keys in
    `inline_maps` keep a map value on one line (`environment = { A = "b" }`)."""
    inner = indent + INDENT
    lines: list[str] = ["{"]
    run: list[tuple[str, str]] = []

    def flush() -> None:
        width = max((len(k) for k, _ in run), default=0)
        lines.extend(f"{inner}{k.ljust(width)} = {v}" for k, v in run)
        run.clear()

    for key, item in value.items():
        if _is_inline(item) or key in inline_maps:
            run.append((_key(key), render_inline(item)))
        else:
            flush()
            lines.append(f"{inner}{_key(key)} = {render_object(item, inner)}")
    flush()
    lines.append(f"{indent}}}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Editing
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """The index just after the newline ending the line of `index` (or the text's end)."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _line_of(text: str, index: int) -> str:
    return f"line {text.count(chr(10), 0, index) + 1}"


def _indent_at(text: str, index: int) -> str:
    start = _line_start(text, index)
    line = text[start:index]
    return line[: len(line) - len(line.lstrip())]


def _alone_on_lines(text: str, entry: Entry) -> bool:
    """The entry starts its line and only blanks or a comment follow its value."""
    before = text[_line_start(text, entry.key_start):entry.key_start]
    rest = text[entry.value.end:_line_end(text, entry.value.end)].strip()
    return not before.strip() and (not rest or rest.startswith(("#", "//")))


def _attached_comments_start(text: str, line_start: int) -> int:
    """The start of the comment lines directly above `line_start` (no blank line between)."""
    start = line_start
    while start > 0:
        previous = _line_start(text, start - 1)
        line = text[previous:start].strip()
        if not line.startswith(("#", "//")):
            break
        start = previous
    return start


def _entry_lines(text: str, entry: Entry, with_comments: bool) -> tuple[int, int]:
    start = _line_start(text, entry.key_start)
    if with_comments:
        start = _attached_comments_start(text, start)
    return start, _line_end(text, entry.value.end)


def _closing_line(text: str, node: Node) -> int:
    """Start of the line holding the object's closing brace, which must be alone on it."""
    brace = node.end - 1
    start = _line_start(text, brace)
    if text[start:brace].strip():
        raise TfvarsError(f"the closing brace at {_line_of(text, brace)} shares its line; "
                          "mlops edits objects written one entry per line")
    return start


def edit_block(text: str, name: str, changes: Mapping[str, Any], *,
               order: Sequence[str] = (), inline_maps: frozenset[str] = frozenset(),
               comments: Mapping[str, str] | None = None) -> str:
    """`text` with the top-level object `name` changed: `changes` maps an entry key to its
    new value (None removes the entry), one level down for nested objects given as
    `{"releases": Nested({...})}`. Keys not in `changes` are left as they are.

    New entries go before the closing brace, in the order of `order` when listed there
    (else as given), each after its optional `comments[key]` lines (an empty line stays
    empty)."""
    block = find_block(text, name)
    if block is None:
        raise TfvarsError(f"there is no top-level `{name} = {{ ... }}` block")
    try:
        edits = _object_edits(text, block, changes, inline_maps=inline_maps,
                              comments=comments or {}, order=order)
    except _Rewrite as err:
        raise TfvarsError(f"{name} ({_line_of(text, block.start)}) is not written one entry "
                          "per line; mlops edits it only in that layout (`terraform fmt` "
                          "keeps it)") from err
    out = text
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        out = out[:edit.start] + edit.text + out[edit.end:]
    return out


@dataclass(frozen=True)
class Nested:
    """A change one level down: entries of a nested object to set (or remove: None)."""

    changes: Mapping[str, Any]


def _object_edits(text: str, node: Node, changes: Mapping[str, Any], *,
                  inline_maps: frozenset[str], comments: Mapping[str, str],
                  order: Sequence[str]) -> list[_Edit]:
    if node.entries and not all(_alone_on_lines(text, e) for e in node.entries):
        raise _Rewrite()
    edits: list[_Edit] = []
    added: list[tuple[str, Any]] = []
    for key, change in changes.items():
        entry = node.entry(key)
        if entry is None:
            if change is None:
                continue
            added.append((key, change.changes if isinstance(change, Nested) else change))
            continue
        if change is None:
            start, end = _entry_lines(text, entry, with_comments=True)
            # No blank line left right after the opening brace, nor two in a row.
            before = text[_line_start(text, start - 1):start].strip() if start else ""
            if (not before or before.endswith("{")) and end < len(text) and \
                    not text[end:_line_end(text, end)].strip():
                end = _line_end(text, end)
            edits.append(_Edit(start, end, ""))
        elif isinstance(change, Nested):
            if entry.value.kind != "object":
                raise TfvarsError(f"{key} at {_line_of(text, entry.key_start)} is not an object")
            try:
                edits += _object_edits(text, entry.value, change.changes,
                                       inline_maps=inline_maps, comments={}, order=order)
            except _Rewrite:
                merged = _merged(entry.value.python(), change.changes)
                edits.append(_Edit(entry.value.start, entry.value.end,
                                   _render_value(merged, _indent_at(text, entry.key_start),
                                                 inline_maps)))
        elif entry.value.python() != change or entry.value.kind != _kind_of(change):
            indent = _indent_at(text, entry.key_start)
            edits.append(_Edit(entry.value.start, entry.value.end,
                               _render_value(change, indent, inline_maps)))
    if added:
        rank = {k: i for i, k in enumerate(order)}
        added.sort(key=lambda kv: rank.get(kv[0], len(rank)))
        at = _closing_line(text, node)
        indent = (_indent_at(text, node.entries[0].key_start) if node.entries
                  else _indent_at(text, node.end - 1) + INDENT)
        lines = ""
        for key, value in added:
            for line in comments.get(key, "").splitlines():
                lines += f"{indent}{line}\n" if line.strip() else "\n"
            lines += f"{indent}{_key(key)} = {_render_value(value, indent, inline_maps)}\n"
        edits.append(_Edit(at, at, lines))
    return edits


class _Rewrite(Exception):
    """An object not written one entry per line: rewrite it whole."""


def _merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(current)
    for key, change in changes.items():
        if change is None:
            out.pop(key, None)
        elif isinstance(change, Nested):
            out[key] = _merged(out.get(key) or {}, change.changes)
        else:
            out[key] = change
    return out


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "tuple"


def _render_value(value: Any, indent: str, inline_maps: frozenset[str]) -> str:
    if isinstance(value, Mapping) and value:
        return render_object(value, indent, inline_maps=inline_maps)
    return render_inline(value)
