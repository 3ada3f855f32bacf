"""The embedded GitHub's own behaviour, where GitHub's documentation is the oracle: the
Actions OIDC token endpoint (claims, subject formats, RS256 signature checked against the
served JWKS) and the REST error answers mlops relies on."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mlops.localcloud.github import OIDC_ISSUER, FakeGitHub


@pytest.fixture
def hub() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _token(hub: FakeGitHub, audience: str | None, bearer: str | None = None) -> requests.Response:
    url = hub.token_url + (f"&audience={audience}" if audience else "")
    return requests.get(url, timeout=5, headers={
        "Authorization": f"bearer {bearer or hub.oidc_request_token}"})


def _claims(jwt: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(_b64(jwt.split(".")[1]))
    return claims


def test_token_carries_githubs_documented_claims(hub: FakeGitHub) -> None:
    resp = _token(hub, "sts.amazonaws.com")
    assert resp.status_code == 200, resp.text
    claims = _claims(resp.json()["value"])
    expected = {"iss": OIDC_ISSUER, "aud": "sts.amazonaws.com",
                "sub": "repo:acme/ml-infra:ref:refs/heads/main", "repository": "acme/ml-infra",
                "ref": "refs/heads/main", "event_name": "push", "run_id": "4242"}
    assert {k: claims.get(k) for k in expected} == expected
    for key in ("jti", "job_workflow_ref", "iat", "exp", "nbf", "sha", "actor"):
        assert key in claims, f"claim {key} missing from {sorted(claims)}"
    assert claims["exp"] - claims["iat"] == hub.oidc.lifetime
    assert "environment" not in claims, "only jobs in an environment get the claim"
    [request] = hub.token_requests
    assert (request.audience, request.bearer) == ("sts.amazonaws.com", hub.oidc_request_token)


@pytest.mark.parametrize(("settings", "sub"), [
    ({"environment": "prod"}, "repo:acme/ml-infra:environment:prod"),
    ({"event_name": "pull_request", "ref": "refs/pull/7/merge"}, "repo:acme/ml-infra:pull_request"),
    ({"ref": "refs/tags/v1"}, "repo:acme/ml-infra:ref:refs/tags/v1"),
    ({"sub": "repo:other/repo:ref:refs/heads/main"}, "repo:other/repo:ref:refs/heads/main"),
], ids=["environment", "pull-request", "tag", "override"])
def test_subject_follows_githubs_formats(hub: FakeGitHub, settings: dict[str, str],
                                         sub: str) -> None:
    for key, value in settings.items():
        setattr(hub.oidc, key, value)
    claims = _claims(_token(hub, "sts.amazonaws.com").json()["value"])
    assert claims["sub"] == sub
    if "environment" in settings:
        assert claims["environment"] == settings["environment"]


def test_a_job_in_an_environment_gets_its_subject_from_its_own_request_token(
        hub: FakeGitHub) -> None:
    """GitHub gives each job its own ACTIONS_ID_TOKEN_REQUEST_TOKEN; a job that names an
    `environment:` gets `repo:ORG/REPO:environment:NAME` and the `environment` claim,
    while the other jobs of the same run keep the run's subject."""
    hub.oidc.event_name = "push"
    prod = _claims(_token(hub, "sts.amazonaws.com",
                          bearer=hub.environment_request_token("prod-approval")).json()["value"])
    plain = _claims(_token(hub, "sts.amazonaws.com").json()["value"])
    assert (prod["sub"], prod["environment"]) == (
        "repo:acme/ml-infra:environment:prod-approval", "prod-approval")
    assert plain["sub"] == "repo:acme/ml-infra:ref:refs/heads/main"
    assert "environment" not in plain and hub.oidc.environment is None
    for bad in (hub.environment_request_token(""), hub.environment_request_token("a b"),
                "x" + hub.environment_request_token("prod")):
        assert _token(hub, "sts.amazonaws.com", bearer=bad).status_code == 401, bad


def test_default_audience_is_the_repository_owner_url(hub: FakeGitHub) -> None:
    claims = _claims(_token(hub, None).json()["value"])
    assert claims["aud"] == "https://github.com/acme"


def test_wrong_request_token_is_refused_and_recorded(hub: FakeGitHub) -> None:
    resp = _token(hub, "sts.amazonaws.com", bearer="not-it")
    assert resp.status_code == 401
    assert [r.bearer for r in hub.token_requests] == ["not-it"]


def test_signature_verifies_against_the_served_jwks(hub: FakeGitHub) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    jwt = _token(hub, "sts.amazonaws.com").json()["value"]
    header = json.loads(_b64(jwt.split(".")[0]))
    config = requests.get(hub.url + "/_services/token/.well-known/openid-configuration",
                          timeout=5).json()
    assert config["issuer"] == OIDC_ISSUER
    keys = requests.get(config["jwks_uri"], timeout=5).json()["keys"]
    [key] = [k for k in keys if k["kid"] == header["kid"]]
    public = rsa.RSAPublicNumbers(int.from_bytes(_b64(key["e"]), "big"),
                                  int.from_bytes(_b64(key["n"]), "big")).public_key()
    signed, signature = jwt.rsplit(".", 1)
    public.verify(_b64(signature), signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert header["alg"] == "RS256"


def test_api_needs_the_token_but_the_oidc_endpoint_does_not(hub: FakeGitHub) -> None:
    resp = requests.get(f"{hub.url}/repos/acme/ml-infra/pulls/7", timeout=5)
    assert resp.status_code == 401 and resp.json()["message"] == "Bad credentials"
    ok = requests.get(f"{hub.url}/repos/acme/ml-infra/pulls/7", timeout=5,
                      headers={"Authorization": f"token {hub.token}"})
    assert ok.status_code == 200 and ok.json()["merged"] is False


def test_opening_a_second_pull_request_for_a_branch_is_422(hub: FakeGitHub, tmp_path: Any) -> None:
    import subprocess

    repo = tmp_path / "r"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    hub.seed("acme/ml-infra", repo)
    auth = {"Authorization": f"Bearer {hub.token}"}
    base = f"{hub.url}/repos/acme/ml-infra"
    sha = hub.branch_sha("acme/ml-infra", "main")
    same = requests.post(f"{base}/git/refs", json={"ref": "refs/heads/t", "sha": sha},
                         headers=auth, timeout=5)
    assert same.status_code == 201
    nothing = requests.post(f"{base}/pulls", json={"title": "t", "head": "t", "base": "main"},
                            headers=auth, timeout=5)
    assert nothing.status_code == 422 and "No commits between" in nothing.text
    put = requests.put(f"{base}/contents/a.txt", headers=auth, timeout=5, json={
        "message": "a", "branch": "t", "content": base64.b64encode(b"a").decode()})
    assert put.status_code == 201, put.text
    first = requests.post(f"{base}/pulls", json={"title": "t", "head": "t", "base": "main"},
                          headers=auth, timeout=5)
    assert first.status_code == 201
    second = requests.post(f"{base}/pulls", json={"title": "t", "head": "acme:t",
                                                  "base": "main"}, headers=auth, timeout=5)
    assert second.status_code == 422 and "already exists" in second.text
