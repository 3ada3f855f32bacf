"""The Kubernetes policies (policies/k8s/*.rego) on rendered objects, evaluated in-process
by regopy with conftest's convention (input = one object). Every rule has a passing and a
failing fixture (tests/policy/fixtures/k8s/<rule>_{pass,fail}.yaml); every test asserts
the complete finding list, so a rule that fires on another rule's fixture is caught too."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlops.adapters import rego
from mlops.core import k8s, policy

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "k8s"
POLICIES = rego.PolicySet.from_dir(ROOT / "policies" / "k8s")
RULES = ("limits", "probes", "non_root", "latest", "registries", "labels", "weights",
         "artifacts")

Found = list[tuple[str, str, str]]  # (rule, Kind/name, "field: message")

DEPLOY = "Deployment/model-server-stable"
SERVER = "spec.template.spec.containers[server]"
FETCH = "spec.template.spec.initContainers[fetch-model]"
UNPACK = "spec.template.spec.initContainers[unpack-model]"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-demo-dev-model-server"
LIMITS = "missing (every container sets requests and limits for cpu and memory)"
SECCOMP = ("securityContext.seccompProfile.type: must be RuntimeDefault (here or in "
           "spec.template.spec.securityContext)")
NOT_PINNED = "is not pinned (`latest` or no tag); use a digest (@sha256:...) or an immutable tag"
NOT_CA = "is not a content-addressed artifact URI (s3://<bucket>/models/<sha256>/model.tar.gz)"


def check(name: str, env: str = "dev") -> Found:
    documents = [d for d in yaml.safe_load_all((FIXTURES / f"{name}.yaml").read_text()) if d]
    answers = rego.evaluate_each(POLICIES, k8s.policy_data(POLICIES.data, env), documents)
    found = []
    for answer in answers:
        for v in policy.parse_violations(answer):
            assert v.message.startswith(f"{v.address}: "), v
            found.append((v.rule, v.address, v.message[len(v.address) + 2:]))
    return sorted(found)


def test_every_rule_has_both_fixtures() -> None:
    for rule in RULES:
        for outcome in ("pass", "fail"):
            assert (FIXTURES / f"{rule}_{outcome}.yaml").is_file(), f"{rule}_{outcome}.yaml"
    rules_in_code = {line.split('"')[1] for path in POLICIES.modules
                     for line in POLICIES.modules[path].splitlines()
                     if line.startswith("deny contains k8s_finding(")}
    assert rules_in_code == set(RULES)


@pytest.mark.parametrize("rule", RULES)
def test_passing_fixtures(rule: str) -> None:
    assert check(f"{rule}_pass") == []


def test_limits_fail() -> None:
    assert check("limits_fail") == [
        ("limits", DEPLOY, f"{SERVER}.resources.requests.cpu: {LIMITS}"),
        ("limits", DEPLOY, f"{SERVER}.resources.requests.memory: {LIMITS}"),
        ("limits", DEPLOY, f"{FETCH}.resources.limits.memory: {LIMITS}"),
    ]


def test_probes_fail() -> None:
    assert check("probes_fail") == [
        ("probes", DEPLOY, f"{SERVER}.livenessProbe: missing (a Service sends traffic by "
                           "readiness; liveness restarts a stuck process)"),
    ]


def test_non_root_fail() -> None:
    assert check("non_root_fail") == sorted([
        ("non_root", DEPLOY, f"{SERVER}.securityContext.allowPrivilegeEscalation: must be false"),
        ("non_root", DEPLOY, f"{SERVER}.securityContext.capabilities.drop: must include ALL"),
        ("non_root", DEPLOY, f"{SERVER}.securityContext.readOnlyRootFilesystem: must be true "
                             "(mount an emptyDir where the process writes)"),
        ("non_root", DEPLOY, f"{SERVER}.securityContext.runAsNonRoot: must be true (here or in "
                             "spec.template.spec.securityContext)"),
        *[("non_root", DEPLOY, f"{c}.securityContext.runAsUser: 0 is root")
          for c in (SERVER, FETCH, UNPACK)],
        *[("non_root", DEPLOY, f"{c}.{SECCOMP}") for c in (SERVER, FETCH, UNPACK)],
    ])


def test_latest_fail() -> None:
    assert check("latest_fail") == [
        ("latest", DEPLOY, f"{SERVER}.image: {ECR}:latest {NOT_PINNED}"),
        ("latest", DEPLOY, f"{UNPACK}.image: {ECR} {NOT_PINNED}"),
    ]


def test_registries_fail() -> None:
    assert check("registries_fail") == [
        ("registries", DEPLOY, f"{SERVER}.image: docker.io/library/python:3.11-slim is not from "
                               "an allowed registry (ECR mlops-demo-*, "
                               "public.ecr.aws/aws-cli/aws-cli; see "
                               "policies/k8s/data/registries.yaml)"),
        ("registries", DEPLOY, f"{FETCH}.image: public.ecr.aws/aws-cli/aws-cli:2.37.0 must be "
                               "pinned by digest: tags in public.ecr.aws/aws-cli/aws-cli can be "
                               "moved (append @sha256:<digest>)"),
    ]


def test_labels_fail() -> None:
    assert check("labels_fail") == [
        ("labels", DEPLOY, "metadata.labels: missing owner"),
        ("labels", DEPLOY, 'spec.template.metadata.labels.env: "prod" but this is the dev '
                           "overlay"),
        ("labels", "HTTPRoute/model-server", "metadata.labels: missing owner"),
    ]


def test_labels_env_follows_the_overlay() -> None:
    found = check("labels_pass", env="staging")
    assert ("labels", DEPLOY, 'metadata.labels.env: "dev" but this is the staging overlay') in found


def test_weights_fail() -> None:
    sum_to = "weights sum to {}, not 100 (they are the percentages of requests)"
    assert check("weights_fail") == [
        ("weights", "HTTPRoute/defaults", f"spec.rules[0].backendRefs: {sum_to.format(2)}"),
        ("weights", "HTTPRoute/negative",
         "spec.rules[0].backendRefs[0].weight: 150 is more than 100 %"),
        ("weights", "HTTPRoute/over", f"spec.rules[0].backendRefs: {sum_to.format(110)}"),
    ]


def test_artifacts_fail() -> None:
    assert check("artifacts_fail") == [
        ("artifacts", "CronJob/model-server-batch",
         "spec.jobTemplate.spec.template.metadata.annotations[mlops/model-uri]: missing (the pod "
         "unpacks a model; name it by its URI, s3://<bucket>/models/<sha256>/model.tar.gz)"),
        ("artifacts", DEPLOY, 'spec.template.metadata.annotations[mlops/model-uri]: '
                              '"s3://mlops-demo-dev-artifacts/models/latest/model.tar.gz" '
                              f"{NOT_CA}"),
    ]


def test_terraform_and_kubernetes_policies_coexist_in_package_main() -> None:
    """conftest loads a policy directory recursively: both sets in one package must not
    clash, and neither fires on the other's input."""
    both = rego.PolicySet({**rego.PolicySet.from_dir(ROOT / "policies").modules,
                           **{f"k8s/{n}": s for n, s in POLICIES.modules.items()}},
                          {**POLICIES.data, "instance_types": {}})
    documents = [d for d in yaml.safe_load_all((FIXTURES / "weights_fail.yaml").read_text())]
    data = {**both.data, "context": {"env": "dev", "tier": "dev"}}
    rules = {v.rule for answer in rego.evaluate_each(both, data, documents)
             for v in policy.parse_violations(answer)}
    assert rules == {"weights"}
