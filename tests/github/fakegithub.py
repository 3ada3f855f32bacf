"""The GitHub REST API stand-in the tests use: the embedded GitHub from the package
(`mlops.localcloud.github`), which the demo uses too. Re-exported under its old name."""

from __future__ import annotations

from mlops.localcloud.github import (
    FakeComment,
    FakeGitHub,
    FakeIssue,
    FakePull,
    Injection,
    OidcSettings,
    Recorded,
    TokenRequest,
    blob_sha,
)

__all__ = ["FakeComment", "FakeGitHub", "FakeIssue", "FakePull", "Injection", "OidcSettings",
           "Recorded", "TokenRequest", "blob_sha"]
