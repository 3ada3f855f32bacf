# GitHub Actions OIDC: workflows get short-lived credentials; no static keys anywhere.
locals {
  oidc_host = "token.actions.githubusercontent.com"
  oidc_provider_arn = (
    var.create_oidc_provider
    ? aws_iam_openid_connect_provider.github[0].arn
    : "arn:aws:iam::${local.account_id}:oidc-provider/${local.oidc_host}"
  )
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # AWS no longer uses the thumbprint for this provider (it trusts GitHub's CA), but the
  # API still requires one; these are GitHub's published intermediates.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]
}

# Plan roles: assumable only from pull-request workflows of this repository.
data "aws_iam_policy_document" "trust_plan" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["repo:${var.github_repo}:pull_request"]
    }
  }
}

# Apply roles: one per env, assumable by a job running in the matching GitHub environment
# (where required reviewers and branch rules are enforced) or, for unprotected envs, by a
# push to the default branch (apply on merge). A protected env's apply role (mlops.yaml
# `protected`; by default every env of the prod tier) trusts only its environments.
# `<env>-approval` is the protected environment where reviewers approve an apply the
# stale-plan guard held (main.yml; core/envs.py approval_environment): it re-plans and
# applies with this role once approved. StringEquals on aud and sub: never a wildcard.
data "aws_iam_policy_document" "trust_apply" {
  for_each = var.envs

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values = concat(
        ["repo:${var.github_repo}:environment:${each.key}",
        "repo:${var.github_repo}:environment:${each.key}-approval"],
        each.value.protected ? [] : ["repo:${var.github_repo}:ref:refs/heads/${var.default_branch}"],
      )
    }
  }
}
