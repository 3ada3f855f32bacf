"""The README table generator: the HCL reader on literal text, the table, the markers, and
the `mlops docs` command on a module written to a temporary directory."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from mlops.commands import docs
from mlops.core import tfdocs
from mlops.errors import MlopsError

ROOT = Path(__file__).resolve().parents[2]

VARIABLES_TF = r'''
# A comment with { an unbalanced brace
variable "name" {
  description = "Component name, e.g. \"artifacts\" gives {project}-{env}-artifacts."
  type        = string
}

variable "tags" {
  type = map(string) // trailing comment {
  description = "Tags; must contain env, owner and cost."
  default = {
    env  = "dev" # a comment }
    cost = "ml"
  }

  validation {
    condition     = length(setsubtract(["env"], keys(var.tags))) == 0
    error_message = "missing: ${join(", ", [for k in ["env"] : k if k != "}"])}."
  }
}

variable "rules" {
  description = <<-EOT
    Lifecycle rules.
      Indented line { with a brace.
  EOT
  type = object({
    days       = optional(number, 30) # comment
    expiration = optional(number)
    /* block comment } */
    prefixes = optional(list(string), [
      "a/",
      "b/",
    ])
  })
  default = {}
}

variable "secret" {
  type      = string
  sensitive = true
  default   = "$${not_interpolated}"
}

variable "one_line" { type = bool }
'''

OUTPUTS_TF = '''
output "arn" {
  description = "Bucket ARN | with a pipe."
  value       = aws_s3_bucket.this.arn
}

output "token" {
  value     = { for k, v in local.x : k => "${v}}" }
  sensitive = true
}
'''


def test_reads_variables_through_comments_strings_heredocs_and_nested_blocks() -> None:
    variables, outputs = tfdocs.read_module({"variables.tf": VARIABLES_TF,
                                             "outputs.tf": OUTPUTS_TF})
    by_name = {v.name: v for v in variables}
    assert list(by_name) == ["name", "tags", "rules", "secret", "one_line"]
    assert by_name["name"] == tfdocs.Variable(
        name="name", type="string",
        description='Component name, e.g. "artifacts" gives {project}-{env}-artifacts.')
    assert by_name["name"].required
    assert by_name["tags"].type == "map(string)"
    assert by_name["tags"].default == '{ env = "dev", cost = "ml" }'
    assert by_name["rules"].description == "Lifecycle rules. Indented line { with a brace."
    assert by_name["rules"].type == (
        'object({ days = optional(number, 30), expiration = optional(number), '
        'prefixes = optional(list(string), [ "a/", "b/" ]) })')
    assert by_name["rules"].default == "{}"
    assert by_name["secret"].sensitive and by_name["secret"].default == '"$${not_interpolated}"'
    assert by_name["one_line"] == tfdocs.Variable(name="one_line", type="bool")
    assert outputs == [tfdocs.Output("arn", "Bucket ARN | with a pipe."),
                       tfdocs.Output("token", "", sensitive=True)]


@pytest.mark.parametrize(("source", "value"), [
    ('"plain"', "plain"),
    (r'"quote \" backslash \\ newline \n"', 'quote " backslash \\ newline \n'),
    ('"$${literal}"', "${literal}"),
    (r'"\u00e9"', "é"),
    ('"a" == "b"', '"a" == "b"'),  # not a single literal: kept as source
    ("<<EOT\n  kept indent\nEOT", "  kept indent"),
    ("<<-EOT\n    one\n      two\n    EOT", "one\n  two"),
])
def test_decode_string(source: str, value: str) -> None:
    assert tfdocs.decode_string(source) == value


@pytest.mark.parametrize(("text", "message"), [
    ('variable "x" {\n  type = string\n', "unbalanced braces"),
    ('variable "x" {\n  description = "no end\n}\n', "unterminated string"),
    ('variable "x" {\n  description = <<EOT\n  text\n}\n', "unterminated heredoc"),
    ('variable "x" {\n  /* open\n}\n', "unterminated /* comment"),
    ('variable "x" {\n  = 1\n}\n', "expected an attribute or block"),
])
def test_malformed_hcl_names_the_line(text: str, message: str) -> None:
    with pytest.raises(tfdocs.HclParseError, match=re.escape(message)) as info:
        tfdocs.read_module({"variables.tf": text})
    assert str(info.value).startswith("variables.tf: line ")


def test_render_table_puts_required_first_and_escapes_cells() -> None:
    table = tfdocs.render_table(
        [tfdocs.Variable("b_opt", "string", "Optional.", '"x"'),
         tfdocs.Variable("a_opt", "list(string)", "Also | optional.", "[]"),
         tfdocs.Variable("z_req", "number", "Required.")],
        [tfdocs.Output("out", "An output.")],
    )
    assert table == (
        "## Inputs\n\n"
        "| Name | Description | Type | Default | Required |\n"
        "|------|-------------|------|---------|:--------:|\n"
        "| `z_req` | Required. | `number` | n/a | yes |\n"
        "| `a_opt` | Also \\| optional. | `list(string)` | `[]` | no |\n"
        '| `b_opt` | Optional. | `string` | `"x"` | no |\n'
        "\n## Outputs\n\n"
        "| Name | Description | Sensitive |\n"
        "|------|-------------|:---------:|\n"
        "| `out` | An output. | no |\n"
    )


def test_render_table_without_inputs_or_outputs() -> None:
    assert tfdocs.render_table([], []) == "## Inputs\n\nNo inputs.\n\n## Outputs\n\nNo outputs.\n"


def test_inject_replaces_only_between_markers_and_is_idempotent() -> None:
    readme = f"# m\n\nintro\n\n{tfdocs.BEGIN_MARKER}\nold table\n{tfdocs.END_MARKER}\n\nafter\n"
    once = tfdocs.inject(readme, "NEW\n")
    assert once == f"# m\n\nintro\n\n{tfdocs.BEGIN_MARKER}\nNEW\n{tfdocs.END_MARKER}\n\nafter\n"
    assert tfdocs.inject(once, "NEW\n") == once


def test_inject_without_markers_fails() -> None:
    with pytest.raises(ValueError, match="BEGIN_TF_DOCS"):
        tfdocs.inject("# no markers\n", "table")


# -- the command, on a module in a temporary directory -------------------------------------


def _args(modules_dir: Path, *modules: str) -> argparse.Namespace:
    return argparse.Namespace(modules=list(modules), modules_dir=modules_dir)


@pytest.fixture
def modules_dir(tmp_path: Path) -> Path:
    module = tmp_path / "demo"
    module.mkdir()
    (module / "variables.tf").write_text(VARIABLES_TF)
    (module / "outputs.tf").write_text(OUTPUTS_TF)
    (module / "README.md").write_text(
        f"# demo\n\nHand-written.\n\n{tfdocs.BEGIN_MARKER}\n{tfdocs.END_MARKER}\n")
    return tmp_path


def test_check_names_the_stale_readme_then_generate_fixes_it(
        modules_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert docs.check(_args(modules_dir), {}) == 1
    assert f"stale: {modules_dir / 'demo' / 'README.md'}" in capsys.readouterr().err
    assert docs.generate(_args(modules_dir), {}) == 0
    text = (modules_dir / "demo" / "README.md").read_text()
    assert text.startswith("# demo\n\nHand-written.\n\n")
    assert "| `one_line` |  | `bool` | n/a | yes |" in text
    assert docs.check(_args(modules_dir), {}) == 0
    (modules_dir / "demo" / "outputs.tf").write_text(OUTPUTS_TF + '\noutput "new" {\n'
                                                     '  value = 1\n}\n')
    assert docs.check(_args(modules_dir, "demo"), {}) == 1


def test_generate_creates_a_missing_readme(modules_dir: Path) -> None:
    (modules_dir / "demo" / "README.md").unlink()
    assert docs.generate(_args(modules_dir), {}) == 0
    assert (modules_dir / "demo" / "README.md").read_text().startswith(
        f"# demo\n\n{tfdocs.BEGIN_MARKER}\n## Inputs\n")


@pytest.mark.parametrize(("readme", "tf", "message"), [
    ("# demo, no markers\n", VARIABLES_TF, "has no <!-- BEGIN_TF_DOCS -->"),
    (f"{tfdocs.BEGIN_MARKER}\n{tfdocs.END_MARKER}\n", 'variable "x" {\n', "cannot read"),
])
def test_generate_errors_say_what_to_fix(modules_dir: Path, readme: str, tf: str,
                                         message: str) -> None:
    (modules_dir / "demo" / "README.md").write_text(readme)
    (modules_dir / "demo" / "variables.tf").write_text(tf)
    with pytest.raises(MlopsError, match=message) as info:
        docs.generate(_args(modules_dir), {})
    assert info.value.fix


def test_unknown_module_is_an_error(modules_dir: Path) -> None:
    with pytest.raises(MlopsError, match="no such module"):
        docs.check(_args(modules_dir, "nope"), {})


# -- the repository's own modules ----------------------------------------------------------


def test_repository_module_readmes_are_current() -> None:
    assert docs.check(_args(ROOT / "modules"), {}) == 0, (
        "a module README table is stale: run `mlops docs generate`")


@pytest.mark.parametrize("module", sorted(
    p.name for p in (ROOT / "modules").iterdir() if (p / "variables.tf").is_file()))
def test_every_variable_and_output_is_documented(module: str) -> None:
    path = ROOT / "modules" / module
    variables, outputs = tfdocs.read_module({p.name: p.read_text() for p in path.glob("*.tf")})
    undocumented = [v.name for v in variables if not v.description] + [
        o.name for o in outputs if not o.description]
    untyped = [v.name for v in variables if v.type == "any"]  # no type attribute
    assert not undocumented, f"modules/{module}: no description on {undocumented}"
    assert not untyped, f"modules/{module}: no type on {untyped}"
    assert {"tags", "env", "project"} <= {v.name for v in variables}, (
        f"modules/{module}: every module takes project, env and tags")
