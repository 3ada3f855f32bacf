"""A small lexer for HCL (Terraform's language) and what mlops reads with it. Pure.

Enough of HCL for a few jobs, never a full parser: finding `module` sources
(core/changes.py), reading or setting the top-level string attributes of a tfvars file
(`env = "dev"`), keeping every other byte, comment and layout as it was, and the tokens
core/tfvars.py reads literal values from (the `serving` block `mlops release` edits).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "string", "number", "punct"
    value: str
    interpolated: bool = False
    # Where the token is in the text: text[start:end] (for a string, quotes included).
    # Not compared: Token("ident", "module") matches any `module` token.
    start: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)


def _skip_template(text: str, i: int) -> int:
    """`i` is just after `${` or `%{`; return the index just after the matching `}`."""
    depth = 1
    n = len(text)
    while i < n and depth:
        c = text[i]
        if c == '"':
            _, i, _ = _read_string(text, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return i


def _read_string(text: str, i: int) -> tuple[str, int, bool]:
    """`text[i]` is an opening quote: (value, index after the closing quote, interpolated)."""
    out: list[str] = []
    interpolated = False
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1, interpolated
        if c in "$%" and text.startswith(c + "{", i + 1):  # `$${` is a literal `${`
            out.append(c + "{")
            i += 3
            continue
        if c in "$%" and text.startswith("{", i + 1):
            interpolated = True
            i = _skip_template(text, i + 2)
            continue
        if c == "\n":  # unterminated string: stop at the end of the line
            return "".join(out), i, interpolated
        out.append(c)
        i += 1
    return "".join(out), i, interpolated


def tokens(text: str) -> Iterator[Token]:
    """The identifiers, strings, numbers and punctuation of HCL text; comments and heredocs
    skipped."""
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif text.startswith("<<", i) and (
            i + 2 < n and (text[i + 2].isalpha() or text[i + 2] in "-_")
        ):
            # heredoc: <<EOT or <<-EOT ... EOT
            j = i + 2
            if text[j] == "-":
                j += 1
            k = j
            while k < n and (text[k].isalnum() or text[k] == "_"):
                k += 1
            marker = text[j:k]
            line_end = text.find("\n", k)
            if line_end < 0 or not marker:
                i = n
                continue
            pos = line_end + 1
            while pos < n:
                nl = text.find("\n", pos)
                line = text[pos : n if nl < 0 else nl]
                if line.strip() == marker:
                    pos = n if nl < 0 else nl
                    break
                pos = n if nl < 0 else nl + 1
            i = pos
        elif c == '"':
            start = i
            value, i, interpolated = _read_string(text, i)
            yield Token("string", value, interpolated, start, i)
        elif c.isdigit():
            j = _number_end(text, i)
            yield Token("number", text[i:j], False, i, j)
            i = j
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            yield Token("ident", text[i:j], False, i, j)
            i = j
        else:
            yield Token("punct", c, False, i, i + 1)
            i += 1


def _number_end(text: str, i: int) -> int:
    """`text[i]` is a digit: the index just after the number (`10`, `0.5`, `1e-3`)."""
    n = len(text)
    j = i
    while j < n and text[j].isdigit():
        j += 1
    if j + 1 < n and text[j] == "." and text[j + 1].isdigit():
        j += 1
        while j < n and text[j].isdigit():
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k].isdigit():
            j = k
            while j < n and text[j].isdigit():
                j += 1
    return j


def string_attributes(text: str) -> dict[str, Token]:
    """Top-level attributes whose value is one literal string: name -> the string token.
    `env = "dev"` counts; `env = var.x`, `env = "${x}"` and nested attributes do not."""
    found: dict[str, Token] = {}
    depth = 0
    window: list[Token] = []
    items = list(tokens(text))
    for index, tok in enumerate(items):
        if tok.kind == "punct" and tok.value in "{[(":
            depth += 1
        elif tok.kind == "punct" and tok.value in "}])":
            depth = max(0, depth - 1)
        window = [*window[-2:], tok]
        following = items[index + 1] if index + 1 < len(items) else None
        if (depth == 0 and len(window) == 3 and window[0].kind == "ident"
                and window[1] == Token("punct", "=") and tok.kind == "string"
                and not tok.interpolated
                and (following is None or following.kind != "punct"
                     or following.value in "}")
                and _line_start(text, window[0].start)):
            found[window[0].value] = tok
    return found


def _line_start(text: str, index: int) -> bool:
    """Only blanks before `index` on its line: the attribute name starts a line."""
    line_start = text.rfind("\n", 0, index) + 1
    return not text[line_start:index].strip()


def quote(value: str) -> str:
    """An HCL string literal for `value` (JSON's escapes are HCL's; `${` and `%{` escaped)."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def set_string_attribute(text: str, name: str, value: str, *, after: str | None = None) -> str:
    """`text` with the top-level `name = "..."` set to `value`. An attribute that is not
    there is added on its own line, after the attribute `after` when it exists, else at
    the top. Everything else is kept byte for byte."""
    attributes = string_attributes(text)
    if name in attributes:
        tok = attributes[name]
        return text[:tok.start] + quote(value) + text[tok.end:]
    line = f"{name} = {quote(value)}\n"
    if after is not None and after in attributes:
        end = text.find("\n", attributes[after].end)
        end = len(text) if end < 0 else end + 1
        prefix = text[:end] if text[:end].endswith("\n") else text[:end] + "\n"
        return prefix + line + text[end:]
    return line + text


def nested_value(text: str, path: tuple[str, ...]) -> Token | None:
    """The value token of the attribute at `path` in nested objects, e.g.
    ("serving", "enabled") in `serving = { enabled = true }`, when the value is a single
    identifier (true, false, null) or a literal string; else None."""
    items = list(tokens(text))
    stack: list[str | None] = []  # the attribute each open bracket belongs to, if any
    for index, tok in enumerate(items):
        if tok.kind == "punct" and tok.value in "{[(":
            owner = items[index - 2] if index >= 2 else None
            named = (tok.value == "{" and owner is not None and owner.kind == "ident"
                     and items[index - 1] == Token("punct", "="))
            stack.append(owner.value if named and owner is not None else None)
        elif tok.kind == "punct" and tok.value in "}])":
            if stack:
                stack.pop()
        elif (tok.kind == "ident" and tok.value == path[-1] and tuple(stack) == path[:-1]
              and index + 2 < len(items) and items[index + 1] == Token("punct", "=")):
            value = items[index + 2]
            after = items[index + 3] if index + 3 < len(items) else None
            if (value.kind == "ident" or (value.kind == "string" and not value.interpolated)) \
                    and (after is None or after.kind != "punct" or after.value in "},]"):
                return value
    return None
