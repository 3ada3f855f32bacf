"""Change detection: the pure decision (table tests) and the HCL module-source parser."""

from __future__ import annotations

import pytest

from mlops.core.changes import (
    FALLBACK_REASON,
    Decision,
    affected_envs,
    build_module_graph,
    merge_graphs,
    module_sources,
)

ENVS = ["dev", "staging", "prod"]

# dev uses gpu_trainer (which calls ../ml_bucket and ../ecr_repository);
# staging and prod use sagemaker_endpoint (which calls ../sagemaker_execution_role)
# and ml_bucket directly; nobody uses cost_guardrails.
TF_FILES = {
    "envs/dev/main.tf": """
        module "trainer" {
          source = "../../modules/gpu_trainer"
          name   = "x"
        }
    """,
    "envs/staging/main.tf": """
        module "endpoint" { source = "../../modules/sagemaker_endpoint" }
        module "data" { source = "../../modules/ml_bucket" }
    """,
    "envs/prod/main.tf": """
        module "endpoint" { source = "../../modules/sagemaker_endpoint" }
        module "data" {
          source = "../../modules/ml_bucket"
        }
        module "vpc" {
          source  = "terraform-aws-modules/vpc/aws"
          version = "5.0.0"
        }
    """,
    "modules/gpu_trainer/main.tf": """
        module "artifacts" { source = "../ml_bucket" }
        module "images" { source = "../ecr_repository" }
    """,
    "modules/sagemaker_endpoint/iam.tf": """
        module "role" { source = "../sagemaker_execution_role" }
    """,
    "modules/ml_bucket/main.tf": 'resource "aws_s3_bucket" "this" {}',
    "modules/cost_guardrails/main.tf": 'resource "aws_budgets_budget" "this" {}',
}
GRAPH = build_module_graph(TF_FILES)


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ([], []),
        (["envs/dev/main.tf"], ["dev"]),
        (["envs/prod/terraform.tfvars", "envs/dev/main.tf"], ["dev", "prod"]),
        (["envs/qa/main.tf"], []),
        (["modules/ml_bucket/main.tf"], ["dev", "staging", "prod"]),
        (["modules/ecr_repository/main.tf"], ["dev"]),
        (["modules/sagemaker_execution_role/main.tf"], ["staging", "prod"]),
        (["modules/sagemaker_endpoint/templates/policy.json.tpl"], ["staging", "prod"]),
        (["modules/cost_guardrails/main.tf"], []),
        (["modules/gpu_trainer/README.md", "docs/runbook.md", "README.md"], []),
        (["docs/architecture/diagram.png"], []),
        (["mlops.yaml"], ["dev", "staging", "prod"]),
        (["policies/s3.rego"], ["dev", "staging", "prod"]),
        (["policies/data/instance_types.yaml"], ["dev", "staging", "prod"]),
        ([".github/workflows/plan.yml"], ["dev", "staging", "prod"]),
        (["scripts/mlops/core/plan.py"], ["dev", "staging", "prod"]),
        (["pyproject.toml"], ["dev", "staging", "prod"]),
        (["bootstrap/main.tf", "k8s/base/api/deployment.yaml", "tests/unit/test_x.py"], []),
        ([".checkov.yaml", ".gitignore"], []),
        (["package.json", "package-lock.json", "scripts/tools/lint-workflows.sh"], []),
        ([".ci/run"], []),
        (["some/new/thing.hcl"], ["dev", "staging", "prod"]),
        (["./envs/staging/main.tf", "envs/staging/main.tf"], ["staging"]),
    ],
)
def test_affected_envs(changed: list[str], expected: list[str]) -> None:
    assert list(affected_envs(changed, GRAPH, ENVS).envs) == expected


def test_output_follows_mlops_yaml_order() -> None:
    decision = affected_envs(["envs/prod/a.tf", "envs/dev/a.tf"], GRAPH, ["prod", "dev"])
    assert decision.envs == ("prod", "dev")
    assert decision.as_matrix() == {"envs": ["prod", "dev"], "k8s": []}


@pytest.mark.parametrize(
    ("changed", "terraform", "k8s"),
    [
        (["k8s/base/model-server/workload/deployment.yaml"], [], ["dev", "staging", "prod"]),
        (["k8s/base/model-server/configmap.env"], [], ["dev", "staging", "prod"]),
        (["k8s/overlays/staging/traffic.yaml"], [], ["staging"]),
        (["k8s/clusters/prod/model-server.yaml"], [], ["prod"]),
        (["k8s/overlays/prod/release.yaml", "k8s/overlays/dev/sizing.yaml"], [],
         ["dev", "prod"]),
        (["policies/k8s/weights.rego"], [], ["dev", "staging", "prod"]),
        (["policies/k8s/data/registries.yaml"], [], ["dev", "staging", "prod"]),
        (["policies/tags.rego"], ["dev", "staging", "prod"], []),
        (["k8s/overlays/qa/kustomization.yaml"], [], []),
        (["k8s/README.md"], [], []),
        (["envs/dev/main.tf", "k8s/overlays/prod/traffic.yaml"], ["dev"], ["prod"]),
    ],
)
def test_k8s_paths_affect_manifests_not_plans(changed: list[str], terraform: list[str],
                                              k8s: list[str]) -> None:
    decision = affected_envs(changed, GRAPH, ENVS)
    assert decision.as_matrix() == {"envs": terraform, "k8s": k8s}


def test_k8s_reasons_and_summary() -> None:
    text = affected_envs(["k8s/overlays/dev/traffic.yaml", "k8s/clusters/qa/x.yaml"], GRAPH,
                         ENVS).explain()
    assert text.splitlines() == [
        "k8s/overlays/dev/traffic.yaml: Kubernetes manifests of dev (k8s/overlays/dev: the "
        "dev env's overlay)",
        "k8s/clusters/qa/x.yaml: no env (k8s/clusters/qa is not an env listed in mlops.yaml)",
        "=> envs to plan: none",
        "=> Kubernetes manifests to diff: dev",
    ]


def test_reasons_name_the_module_chain() -> None:
    decision = affected_envs(["modules/ml_bucket/main.tf"], GRAPH, ENVS)
    (reason,) = decision.reasons
    assert reason.envs == ("dev", "staging", "prod")
    assert "envs/dev -> modules/gpu_trainer -> modules/ml_bucket" in reason.why
    assert "envs/staging -> modules/ml_bucket" in reason.why


@pytest.mark.parametrize(
    ("path", "why_part"),
    [
        ("docs/x.md", "documentation only"),
        (
            "modules/cost_guardrails/main.tf",
            "modules/cost_guardrails is not called by any env root",
        ),
        ("envs/qa/main.tf", "envs/qa is not an env listed in mlops.yaml"),
        ("policies/tags.rego", "policy gate"),
        ("weird.tfvars", FALLBACK_REASON),
    ],
)
def test_every_path_gets_a_reason(path: str, why_part: str) -> None:
    decision = affected_envs([path], GRAPH, ENVS)
    assert why_part in decision.reasons[0].why
    assert path in decision.explain()


def test_explain_summary() -> None:
    text = affected_envs(["envs/dev/main.tf", "docs/a.md"], GRAPH, ENVS).explain()
    assert text.splitlines() == [
        "envs/dev/main.tf: dev (inside the dev env root)",
        "docs/a.md: no env (documentation only)",
        "=> envs to plan: dev",
    ]
    assert Decision((), ()).explain() == "no changed files: no env affected"


def test_module_cycle_terminates() -> None:
    graph = build_module_graph(
        {
            "envs/dev/main.tf": 'module "a" { source = "../../modules/a" }',
            "modules/a/main.tf": 'module "b" { source = "../b" }',
            "modules/b/main.tf": 'module "a" { source = "../a" }',
        }
    )
    assert affected_envs(["modules/b/x.tf"], graph, ENVS).envs == ("dev",)


def test_module_prefix_is_a_directory_not_a_string_prefix() -> None:
    graph = build_module_graph({"envs/dev/main.tf": 'module "a" { source = "../../modules/ml" }'})
    assert affected_envs(["modules/ml_bucket/main.tf"], graph, ENVS).envs == ()
    assert affected_envs(["modules/ml/main.tf"], graph, ENVS).envs == ("dev",)


def test_merge_graphs_keeps_edges_of_both_sides() -> None:
    base = build_module_graph({"envs/dev/main.tf": 'module "a" { source = "../../modules/a" }'})
    head = build_module_graph({"envs/dev/main.tf": 'module "b" { source = "../../modules/b" }'})
    merged = merge_graphs(base, head)
    assert merged["envs/dev"] == frozenset({"modules/a", "modules/b"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('module "a" {\n  source = "./a"\n}', ["./a"]),
        ('module "a" { source = "../../modules/x" }', ["../../modules/x"]),
        ("module 'a' { source = \"./a\" }", []),  # not HCL
        ('# module "a" { source = "./commented" }\nmodule "b" { source = "./b" }', ["./b"]),
        ('// module "a" { source = "./c" }\n/* module "x" {\n source = "./y" } */', []),
        (  # a nested object's `source` key is not the module's source
            'module "a" {\n  source = "./a"\n  config = { source = "./nope" }\n}',
            ["./a"],
        ),
        ('resource "x" "y" {\n  source = "./not-a-module"\n}', []),
        (  # strings and heredocs with braces do not confuse the block depth
            'module "a" {\n  x = "}{"\n  y = <<-EOT\n    }\n    source = "./heredoc"\n  EOT\n'
            '  source = "./real"\n}',
            ["./real"],
        ),
        ('module "a" {\n  n = "${var.x}-{"\n  source = "./a"\n}', ["./a"]),
        ('module "a" { source = "${path.module}/x" }', []),  # interpolated: not a literal
        (
            'module "a" {\n  source = "git::https://example.com/x.git?ref=v1"\n}',
            ["git::https://example.com/x.git?ref=v1"],
        ),
        (
            'module "a" {\n  count = 1\n  source = "./a"\n}\nmodule "b" {\n  source = "./b"\n}',
            ["./a", "./b"],
        ),
        ('module "a" {', []),  # truncated file
    ],
)
def test_module_sources(text: str, expected: list[str]) -> None:
    assert module_sources(text) == expected


def test_graph_ignores_remote_sources_and_normalises_paths() -> None:
    graph = build_module_graph(
        {
            "envs/dev/main.tf": (
                'module "a" { source = "../../modules/./a/" }\n'
                'module "r" { source = "terraform-aws-modules/vpc/aws" }\n'
                'module "g" { source = "git::https://x/y.git" }\n'
            ),
            "envs/dev/README.md": 'module "z" { source = "../z" }',
        }
    )
    assert graph == {"envs/dev": frozenset({"modules/a"})}
