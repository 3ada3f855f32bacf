# Roles for the scheduled operations workflows (drift.yml, reaper.yml), per env. They run
# from the default branch on a schedule or a dispatch, outside any GitHub environment, so
# their OIDC subject is repo:<owner/name>:ref:refs/heads/<default branch>: no pull request
# and no other branch can assume them.
locals {
  operations_subject = "repo:${var.github_repo}:ref:refs/heads/${var.default_branch}"
}

data "aws_iam_policy_document" "trust_operations" {
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
      values   = [local.operations_subject]
    }
  }
}

# Drift: the plan role's read-only policy (the env's state key and lock included: a plan
# takes the lock), assumable from the default branch instead of pull requests.
resource "aws_iam_role" "drift" {
  for_each = var.envs

  name                 = "${var.project}-${each.key}-drift"
  description          = "Read-only drift plans of ${each.key} from ${var.github_repo}'s ${var.default_branch} (drift.yml)."
  assume_role_policy   = data.aws_iam_policy_document.trust_operations.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "drift" {
  for_each = var.envs

  name   = "drift"
  role   = aws_iam_role.drift[each.key].id
  policy = data.aws_iam_policy_document.plan[each.key].json
}

# Reaper: see what is billed by the hour; delete the env's endpoints (never their configs
# or models) and stop (never terminate) the env's instances. Nothing else.
data "aws_iam_policy_document" "reaper" {
  #checkov:skip=CKV_AWS_356:List/Describe of endpoints and instances do not support resource-level permissions.
  for_each = var.envs

  statement {
    sid = "SeeWhatIsBilledByTheHour"
    actions = [
      "sagemaker:ListEndpoints", "sagemaker:DescribeEndpoint",
      "sagemaker:DescribeEndpointConfig", "sagemaker:ListTags", "ec2:DescribeInstances",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DeleteEnvEndpoints"
    actions   = ["sagemaker:DeleteEndpoint"]
    resources = ["arn:aws:sagemaker:${each.value.region}:${local.account_id}:endpoint/${var.project}-${each.key}-*"]
  }

  statement {
    sid       = "StopEnvInstancesByTag"
    actions   = ["ec2:StopInstances"]
    resources = ["arn:aws:ec2:${each.value.region}:${local.account_id}:instance/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/env"
      values   = [each.key]
    }
  }

  # An instance that lost its env tag is still the env's by its Name ({project}-{env}-...).
  statement {
    sid       = "StopEnvInstancesByName"
    actions   = ["ec2:StopInstances"]
    resources = ["arn:aws:ec2:${each.value.region}:${local.account_id}:instance/*"]

    condition {
      test     = "StringLike"
      variable = "aws:ResourceTag/Name"
      values   = ["${var.project}-${each.key}-*"]
    }
  }

  # {project}-prod-* also matches prod-eu's names: the envs whose names extend this one's
  # are not this reaper's (roles.tf's extending_envs, as for the apply roles).
  dynamic "statement" {
    for_each = length(local.extending_envs[each.key]) > 0 ? [local.extending_envs[each.key]] : []

    content {
      sid       = "DenyEnvsWhoseNamesExtendThisOne"
      effect    = "Deny"
      actions   = ["sagemaker:DeleteEndpoint"]
      resources = [for other in statement.value : "arn:aws:sagemaker:*:${local.account_id}:endpoint/${var.project}-${other}-*"]
    }
  }

  dynamic "statement" {
    for_each = length(local.extending_envs[each.key]) > 0 ? [local.extending_envs[each.key]] : []

    content {
      sid       = "DenyInstancesOfEnvsWhoseNamesExtendThisOne"
      effect    = "Deny"
      actions   = ["ec2:StopInstances"]
      resources = ["*"]

      condition {
        test     = "StringLike"
        variable = "aws:ResourceTag/Name"
        values   = [for other in statement.value : "${var.project}-${other}-*"]
      }
    }
  }
}

resource "aws_iam_role" "reaper" {
  for_each = var.envs

  name                 = "${var.project}-${each.key}-reaper"
  description          = "The cost reaper of ${each.key} from ${var.github_repo}'s ${var.default_branch} (reaper.yml)."
  assume_role_policy   = data.aws_iam_policy_document.trust_operations.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "reaper" {
  for_each = var.envs

  name   = "reaper"
  role   = aws_iam_role.reaper[each.key].id
  policy = data.aws_iam_policy_document.reaper[each.key].json
}

output "drift_role_arns" {
  description = "Per env: the role drift.yml assumes (repository variables DRIFT_ROLE_ARN_<ENV>)."
  value       = { for env, role in aws_iam_role.drift : env => role.arn }
}

output "reaper_role_arns" {
  description = "Per env: the role reaper.yml assumes (repository variables REAPER_ROLE_ARN_<ENV>)."
  value       = { for env, role in aws_iam_role.reaper : env => role.arn }
}
