"""Module README tables generated from the Terraform code. Pure: text in, text out.

A deliberately small HCL reader: it finds top-level `variable` and `output` blocks and
reads their `type`, `description`, `default` and `sensitive` attributes. It understands
what can hide a brace or a newline inside those blocks (quoted strings with `${...}`
interpolation, heredocs, `#`, `//` and `/* */` comments, nested blocks such as
`validation`), and keeps every expression other than a plain string as its source text.
It is not a general HCL parser and does not evaluate anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BEGIN_MARKER = "<!-- BEGIN_TF_DOCS -->"
END_MARKER = "<!-- END_TF_DOCS -->"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class HclParseError(ValueError):
    """The text is not HCL this reader can follow; the message gives the line."""


@dataclass(frozen=True)
class Variable:
    name: str
    type: str = "any"
    description: str = ""
    default: str | None = None  # source text; None when the variable has no default
    sensitive: bool = False

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Output:
    name: str
    description: str = ""
    sensitive: bool = False


@dataclass
class Block:
    """One block: its type, labels, attributes (name -> source text) and child blocks."""

    type: str
    labels: list[str]
    line: int
    attributes: dict[str, str] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def line_of(self, i: int) -> int:
        return self.text.count("\n", 0, i) + 1

    def fail(self, i: int, what: str) -> HclParseError:
        return HclParseError(f"line {self.line_of(i)}: {what}")

    # -- lexical skipping ---------------------------------------------------------------

    def skip_comment(self, i: int) -> int:
        """i is at a comment start; returns the index after it (a line comment stops
        before its newline)."""
        t = self.text
        if t.startswith("/*", i):
            end = t.find("*/", i + 2)
            if end < 0:
                raise self.fail(i, "unterminated /* comment")
            return end + 2
        end = t.find("\n", i)
        return self.n if end < 0 else end

    def is_comment(self, i: int) -> bool:
        t = self.text
        return t[i] == "#" or t.startswith("//", i) or t.startswith("/*", i)

    def skip_string(self, i: int) -> int:
        """i is at an opening quote; returns the index after the closing quote."""
        t = self.text
        j = i + 1
        while j < self.n:
            c = t[j]
            if c == "\\":
                j += 2
            elif c == '"':
                return j + 1
            elif c == "\n":
                break
            elif t.startswith(("$${", "%%{"), j):
                j += 3
            elif t.startswith(("${", "%{"), j):
                j = self.scan(j + 2, stop_at_newline=False) + 1
            else:
                j += 1
        raise self.fail(i, "unterminated string")

    def skip_heredoc(self, i: int, match: re.Match[str]) -> int:
        """Returns the index just after the heredoc's closing marker."""
        marker = match.group(2)
        j = match.end()
        while j <= self.n:
            eol = self.text.find("\n", j)
            line_end = self.n if eol < 0 else eol
            if self.text[j:line_end].strip() == marker:
                return line_end
            if eol < 0:
                break
            j = eol + 1
        raise self.fail(i, f"unterminated heredoc (no closing {marker} line)")

    def scan(self, i: int, *, stop_at_newline: bool) -> int:
        """Scan an expression or a body from i. Returns the index of the first unmatched
        closing bracket, or (with stop_at_newline) of the newline or comment that ends an
        expression at depth 0, or the end of the text."""
        t = self.text
        depth = 0
        while i < self.n:
            c = t[i]
            if c == '"':
                i = self.skip_string(i)
                continue
            if c == "<" and t.startswith("<<", i):
                match = _HEREDOC.match(t, i)
                if match:
                    i = self.skip_heredoc(i, match)
                    continue
            if self.is_comment(i):
                if stop_at_newline and depth == 0 and not t.startswith("/*", i):
                    return i
                i = self.skip_comment(i)
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    return i
                depth -= 1
            elif c == "\n" and stop_at_newline and depth == 0:
                return i
            i += 1
        return i

    def skip_space(self, i: int, end: int) -> int:
        """Skip whitespace, newlines and comments."""
        while i < end:
            if self.text[i] in " \t\r\n":
                i += 1
            elif self.is_comment(i):
                i = self.skip_comment(i)
            else:
                break
        return i

    def skip_inline_space(self, i: int) -> int:
        while i < self.n and self.text[i] in " \t":
            i += 1
        return i

    # -- structure ----------------------------------------------------------------------

    def body(self, start: int, end: int, into: Block) -> None:
        """Read attributes and blocks between start and end into `into`."""
        t = self.text
        i = start
        while True:
            i = self.skip_space(i, end)
            if i >= end:
                return
            match = _IDENT.match(t, i)
            if not match:
                raise self.fail(i, f"expected an attribute or block, found {t[i:i + 20]!r}")
            name = match.group(0)
            i = self.skip_inline_space(match.end())
            if i < self.n and t[i] == "=" and not t.startswith("==", i):
                value_start = self.skip_inline_space(i + 1)
                value_end = self.scan(value_start, stop_at_newline=True)
                if value_end > end:
                    raise self.fail(value_start, f"attribute {name} runs past its block")
                into.attributes[name] = t[value_start:value_end].strip()
                i = value_end
                continue
            labels: list[str] = []
            while i < self.n and t[i] != "{":
                if t[i] == '"':
                    label_end = self.skip_string(i)
                    labels.append(decode_string(t[i:label_end]))
                    i = label_end
                else:
                    label = _IDENT.match(t, i)
                    if not label:
                        raise self.fail(i, f"expected a label or {{ after {name}")
                    labels.append(label.group(0))
                    i = label.end()
                i = self.skip_inline_space(i)
            if i >= self.n:
                raise self.fail(match.start(), f"block {name} has no body")
            close = self.scan(i + 1, stop_at_newline=False)
            if close >= self.n or t[close] != "}":
                raise self.fail(i, f"unbalanced braces in block {name} {' '.join(labels)}")
            block = Block(type=name, labels=labels, line=self.line_of(match.start()))
            self.body(i + 1, close, block)
            into.blocks.append(block)
            i = close + 1


def parse(text: str) -> Block:
    """Parse HCL text into a root Block holding its top-level attributes and blocks."""
    root = Block(type="", labels=[], line=1)
    reader = _Reader(text)
    reader.body(0, len(text), root)
    return root


def decode_string(source: str) -> str:
    """The value of a quoted-string or heredoc literal; other expressions unchanged."""
    source = source.strip()
    heredoc = _HEREDOC.match(source)
    if heredoc:
        lines = source[heredoc.end():].split("\n")[:-1]  # drop the closing marker line
        if heredoc.group(1):  # <<- strips the common indentation
            indents = [len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()]
            cut = min(indents, default=0)
            lines = [ln[cut:] for ln in lines]
        return "\n".join(lines)
    if len(source) >= 2 and source[0] == '"' and source[-1] == '"':
        try:
            if _Reader(source).skip_string(0) != len(source):
                return source  # e.g. "a" == "b": not one literal
        except HclParseError:
            return source
        out: list[str] = []
        i, body = 0, source[1:-1]
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                if nxt == "u" and i + 6 <= len(body):
                    out.append(chr(int(body[i + 2:i + 6], 16)))
                    i += 6
                    continue
                out.append(_ESCAPES.get(nxt, nxt))
                i += 2
            elif body.startswith(("$${", "%%{"), i):
                out.append(body[i + 1:i + 3])
                i += 3
            else:
                out.append(c)
                i += 1
        return "".join(out)
    return source


def normalize(expr: str) -> str:
    """An expression on one line: comments dropped, line breaks turned into `, ` between
    elements (or a space next to a bracket), runs of spaces outside strings collapsed."""
    reader = _Reader(expr)
    pieces: list[str] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if c == '"':
            end = reader.skip_string(i)
            pieces.append(expr[i:end])
            i = end
        elif c == "<" and (heredoc := _HEREDOC.match(expr, i)):
            end = reader.skip_heredoc(i, heredoc)
            pieces.append(json.dumps(decode_string(expr[i:end])))
            i = end
        elif reader.is_comment(i):
            i = reader.skip_comment(i)
        elif c in " \t\r\n":
            j = i
            while j < len(expr) and expr[j] in " \t\r\n":
                j += 1
            pieces.append("\n" if "\n" in expr[i:j] else " ")
            i = j
        else:
            pieces.append(c)
            i += 1
    out = ""
    for piece in pieces:
        if piece == "\n":
            stripped = out.rstrip()
            out = stripped + ("\n" if stripped else "")
        elif piece == " ":
            if out and not out.endswith((" ", "\n")):
                out += " "
        else:
            if out.endswith("\n"):
                body = out[:-1]
                joiner = " " if body.endswith(("{", "[", "(", ",")) or piece in "}])" else ", "
                out = body + joiner
            out += piece
    out = re.sub(r",\s*([\]})])", r" \1", out.strip())
    return out


def _is_true(expr: str | None) -> bool:
    return expr is not None and expr.strip() == "true"


def read_module(files: Mapping[str, str]) -> tuple[list[Variable], list[Output]]:
    """Variables and outputs declared in a module's .tf files (file name -> text)."""
    variables: list[Variable] = []
    outputs: list[Output] = []
    for name, text in sorted(files.items()):
        try:
            root = parse(text)
        except HclParseError as err:
            raise HclParseError(f"{name}: {err}") from err
        for block in root.blocks:
            if block.type not in ("variable", "output"):
                continue
            if len(block.labels) != 1:
                raise HclParseError(f"{name}: line {block.line}: {block.type} needs one label")
            attrs = block.attributes
            description = " ".join(decode_string(attrs.get("description", '""')).split())
            if block.type == "variable":
                default = attrs.get("default")
                variables.append(Variable(
                    name=block.labels[0],
                    type=normalize(attrs.get("type", "any")),
                    description=description,
                    default=normalize(default) if default is not None else None,
                    sensitive=_is_true(attrs.get("sensitive")),
                ))
            else:
                outputs.append(Output(name=block.labels[0], description=description,
                                      sensitive=_is_true(attrs.get("sensitive"))))
    return variables, outputs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    return f"{fence}{_cell(text)}{fence}"


def render_table(variables: Iterable[Variable], outputs: Iterable[Output]) -> str:
    """Markdown inputs and outputs tables: required inputs first, then by name."""
    lines = ["## Inputs", ""]
    ordered = sorted(variables, key=lambda v: (not v.required, v.name))
    if ordered:
        lines += ["| Name | Description | Type | Default | Required |",
                  "|------|-------------|------|---------|:--------:|"]
        for var in ordered:
            default = "n/a" if var.default is None else _code(var.default)
            if var.sensitive and var.default is not None:
                default = "(sensitive)"
            lines.append(
                f"| {_code(var.name)} | {_cell(var.description)} | {_code(var.type)} "
                f"| {default} | {'yes' if var.required else 'no'} |"
            )
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    outs = sorted(outputs, key=lambda o: o.name)
    if outs:
        lines += ["| Name | Description | Sensitive |", "|------|-------------|:---------:|"]
        for out in outs:
            lines.append(f"| {_code(out.name)} | {_cell(out.description)} "
                         f"| {'yes' if out.sensitive else 'no'} |")
    else:
        lines.append("No outputs.")
    return "\n".join(lines) + "\n"


def inject(readme: str, table: str) -> str:
    """The README with the text between the markers replaced by the table."""
    begin = readme.find(BEGIN_MARKER)
    end = readme.find(END_MARKER)
    if begin < 0 or end < 0 or end < begin:
        raise ValueError(f"the README has no {BEGIN_MARKER} ... {END_MARKER} section")
    return readme[:begin + len(BEGIN_MARKER)] + "\n" + table + readme[end:]


def module_readme(files: Mapping[str, str], readme: str) -> str:
    """The README as it should be for a module's .tf files."""
    variables, outputs = read_module(files)
    return inject(readme, render_table(variables, outputs))
