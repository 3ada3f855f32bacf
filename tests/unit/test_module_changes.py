"""Which modules' tests a change needs (mlops.core.changes.affected_modules)."""

from __future__ import annotations

import pytest

from mlops.core import changes

MODULES = ["ml_bucket", "sagemaker_endpoint", "serving_stack", "gpu_trainer"]
# serving_stack calls sagemaker_endpoint, which calls nothing; an env calls serving_stack.
GRAPH = changes.build_module_graph({
    "modules/serving_stack/main.tf": 'module "ep" {\n  source = "../sagemaker_endpoint"\n}\n',
    "modules/sagemaker_endpoint/main.tf": 'resource "aws_sagemaker_endpoint" "this" {}\n',
    "envs/dev/main.tf": 'module "s" {\n  source = "../../modules/serving_stack"\n}\n',
})

CASES = [
    ("a module's own file", ["modules/ml_bucket/main.tf"], ["ml_bucket"]),
    ("a called module: its callers too", ["modules/sagemaker_endpoint/variables.tf"],
     ["sagemaker_endpoint", "serving_stack"]),
    ("the calling module only", ["modules/serving_stack/main.tf"], ["serving_stack"]),
    ("a module's README changes the module's tests (docs check runs there)",
     ["modules/gpu_trainer/README.md"], ["gpu_trainer"]),
    ("its fixture root", ["tests/terraform/fixtures/gpu_trainer/main.tf"], ["gpu_trainer"]),
    ("its inventory", ["tests/terraform/inventories/ml_bucket.yaml"], ["ml_bucket"]),
    ("the module tests themselves", ["tests/terraform/test_modules_apply.py"], sorted(MODULES)),
    ("an env root is not a module", ["envs/dev/terraform.tfvars"], []),
    ("docs and the CLI are not modules", ["docs/x.md", "scripts/mlops/cli.py"], []),
    ("a module that no longer exists", ["modules/gone/main.tf"], []),
    ("the fixture of an unknown module", ["tests/terraform/fixtures/gone/main.tf"], []),
    ("paths as git prints them, repeated", ["./modules/ml_bucket/main.tf",
                                            "modules/ml_bucket/main.tf"], ["ml_bucket"]),
]


@pytest.mark.parametrize(("paths", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_affected_modules(paths: list[str], expected: list[str]) -> None:
    decision = changes.affected_modules(paths, GRAPH, MODULES)
    assert list(decision.modules) == expected, decision.explain()


def test_the_explanation_says_why_for_each_path() -> None:
    decision = changes.affected_modules(
        ["modules/sagemaker_endpoint/main.tf", "docs/a.md"], GRAPH, MODULES)
    text = decision.explain()
    assert ("modules/sagemaker_endpoint/main.tf: sagemaker_endpoint, serving_stack "
            "(modules/sagemaker_endpoint changed; the modules calling it are tested too)") in text
    assert "docs/a.md: no module (not a module or its test material)" in text
    assert text.endswith("=> modules to test: sagemaker_endpoint, serving_stack")
    assert decision.as_json() == {"modules": ["sagemaker_endpoint", "serving_stack"]}
