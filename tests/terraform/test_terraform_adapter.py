"""The terraform adapter against real Terraform (built-in terraform_data, no provider)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from mlops.adapters.terraform import Terraform, TerraformError, prepare
from mlops.core.masking import Masker, compile_patterns
from mlops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "ghp_0123456789abcdefSECRET"
CONFIG = f"""
resource "terraform_data" "token" {{
  input = "{SECRET}"
}}
output "token" {{
  value = terraform_data.token.output
}}
"""


@pytest.fixture
def tf(tmp_path: Path) -> Terraform:
    env = {**os.environ, "MLOPS_ROOT": str(ROOT), "MLOPS_STATE_DIR": str(tmp_path / "state")}
    tf_env = prepare(Settings.from_env(env), env)
    work = tmp_path / "root"
    work.mkdir()
    (work / "main.tf").write_text(CONFIG)
    masker = Masker(patterns=compile_patterns([r"ghp_[A-Za-z0-9]+"]))
    return Terraform(workdir=work, env={**tf_env, "TF_DATA_DIR": str(tmp_path / "data")},
                     label="t", out=io.StringIO(), mask=masker.mask)


@pytest.mark.terraform
def test_streamed_output_is_masked_and_prefixed(tf: Terraform) -> None:
    tf.init(backend=False)
    tf.apply(stream=True)
    assert isinstance(tf.out, io.StringIO)
    log = tf.out.getvalue()
    assert "Apply complete!" in log, log
    assert SECRET not in log, "a mask-pattern match reached the streamed log"
    assert all(line.startswith("[t] ") for line in log.splitlines() if line)
    assert tf.outputs()["token"]["value"] == SECRET  # data itself is untouched


@pytest.mark.terraform
def test_relative_plan_paths_work_despite_chdir(tf: Terraform, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tf.init(backend=False)
    assert tf.plan(Path("rel.tfplan")) == 2  # changes
    assert (tmp_path / "rel.tfplan").is_file()
    assert tf.show_json(Path("rel.tfplan"))["format_version"].startswith("1.")
    tf.apply(Path("rel.tfplan"), stream=False)
    assert tf.plan(Path("rel2.tfplan")) == 0  # applied: no changes


@pytest.mark.terraform
def test_errors_carry_terraform_message_masked(tf: Terraform) -> None:
    # Terraform quotes the offending source line, secret included, in its error.
    bad = f'\noutput "bad" {{\n  value = "{SECRET}" + 1\n}}\n'
    (tf.workdir / "main.tf").write_text(CONFIG + bad)
    tf.init(backend=False)
    with pytest.raises(TerraformError) as excinfo:
        tf.plan(tf.workdir / "p.tfplan")
    rendered = excinfo.value.render()
    assert "Invalid operand" in rendered or "Unsuitable value" in rendered, rendered
    assert SECRET not in rendered
    assert "***" in rendered


@pytest.mark.terraform
def test_output_values_never_show_sensitive_outputs(tf: Terraform) -> None:
    (tf.workdir / "main.tf").write_text(CONFIG.replace(
        "value = terraform_data.token.output",
        "value     = terraform_data.token.output\n  sensitive = true"))
    tf.init(backend=False)
    tf.apply(stream=False)
    assert tf.output_values() == {"token": "(sensitive)"}
    assert tf.outputs()["token"]["value"] == SECRET  # raw access stays possible


@pytest.mark.terraform
def test_init_is_skipped_only_when_nothing_it_depends_on_changed(tf: Terraform) -> None:
    module = tf.workdir.parent / "mod"
    module.mkdir()
    (module / "main.tf").write_text('output "x" {\n  value = 1\n}\n')
    (tf.workdir / "mod.tf").write_text('module "m" {\n  source = "../mod"\n}\n')
    assert tf.init(backend=False) is not None  # first init runs
    assert tf.init(backend=False) is None  # nothing changed: skipped
    (module / "main.tf").write_text('output "x" {\n  value = 2\n}\n')
    assert tf.init(backend=False) is not None  # a module's code changed: runs again
    assert tf.init(backend=False) is None
    (tf.workdir / "extra.tf").write_text('output "y" {\n  value = 3\n}\n')
    assert tf.init(backend=False) is not None  # the root changed
    assert tf.init(backend=False) is None
    lock = tf.workdir / ".terraform.lock.hcl"
    lock.write_text(lock.read_text() + "# a lock-only change\n" if lock.is_file()
                    else "# a lock file appears\n")
    assert tf.init(backend=False) is not None  # the dependency lock file changed
    assert tf.init(backend=False) is None
    assert tf.init(backend=False, reuse=False) is not None  # asked not to reuse
    assert tf.init({"path": "other.tfstate"}) is not None  # other backend settings
