# Per-env roles, for the envs of this account (var.envs). Plan roles read (and take the
# state lock); apply roles change only what the modules manage, under the env's own name
# prefix and in the env's own region, and write only their own env's state.
locals {
  # Names are {project}-{env}-{component}, and the apply roles are scoped by the prefix
  # {project}-{env}-*. An env whose name extends another's (prod-eu extends prod) would fall
  # under the shorter one's prefix: those envs' resources are denied to the shorter one.
  extending_envs = {
    for env in keys(var.envs) : env => [for other in keys(var.envs) : other if startswith(other, "${env}-")]
  }

  services_read = [
    "cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*",
    "budgets:Describe*", "budgets:View*", "budgets:ListTagsForResource",
    "ec2:Describe*", "ecr:Describe*", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource", "iam:Get*", "iam:List*",
    "s3:GetBucket*", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration",
    "s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration",
    "sagemaker:Describe*", "sagemaker:List*", "scheduler:Get*", "scheduler:List*",
    "sns:GetTopicAttributes", "sns:ListTagsForResource",
  ]
}

# State access. Plan roles (any pull request) read the env's state and may write only its
# lock object: a PR runs its own copy of the workflow, so a plan role that could write
# state would let any branch overwrite or delete it. Apply roles alone write state and the
# deployment records.
locals {
  state_key = { for env in keys(var.envs) : env => "envs/${env}/terraform.tfstate" }
}

data "aws_iam_policy_document" "state_read_and_lock" {
  for_each = var.envs

  statement {
    sid       = "ListStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["envs/${each.key}/*"]
    }
  }

  statement {
    sid       = "ReadOwnState"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.state.arn}/envs/${each.key}/*"]
  }

  statement {
    sid       = "TakeAndReleaseOwnStateLock"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.state.arn}/${local.state_key[each.key]}.tflock"]
  }
}

data "aws_iam_policy_document" "state_write" {
  for_each = var.envs

  statement {
    sid       = "WriteOwnState"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.state.arn}/envs/${each.key}/*"]
  }

  statement {
    sid       = "ListOwnDeploymentRecords"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.state.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["deployments/${each.key}/*"]
    }
  }

  statement {
    sid       = "ReadWriteOwnDeploymentRecords"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.state.arn}/deployments/${each.key}/*"]
  }
}

data "aws_iam_policy_document" "plan" {
  #checkov:skip=CKV_AWS_356:Describe/List/Get actions of these services do not support resource-level permissions, so read-only planning needs "*".
  for_each = var.envs

  source_policy_documents = [data.aws_iam_policy_document.state_read_and_lock[each.key].json]

  statement {
    sid       = "ReadManagedServices"
    actions   = local.services_read
    resources = ["*"]
  }

  # Listing is scoped to the env's own buckets: never the state bucket's other envs.
  statement {
    sid       = "ListEnvBuckets"
    actions   = ["s3:ListBucket"]
    resources = ["arn:aws:s3:::${var.project}-${each.key}-*"]
  }

  # modules/sagemaker_endpoint reads each model artifact's provenance metadata at plan time
  # (HeadObject and the object's tags), so the policy gate can see a fault-injected build.
  statement {
    sid       = "ReadModelArtifactMetadata"
    actions   = ["s3:GetObject", "s3:GetObjectTagging"]
    resources = ["arn:aws:s3:::${var.project}-${each.key}-artifacts/models/*"]
  }
}

data "aws_iam_policy_document" "apply" {
  for_each = var.envs

  source_policy_documents = [
    data.aws_iam_policy_document.plan[each.key].json,
    data.aws_iam_policy_document.state_write[each.key].json,
  ]

  statement {
    sid = "ManageEnvBuckets"
    actions = [
      "s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucket*", "s3:DeleteBucketPolicy",
      "s3:PutEncryptionConfiguration", "s3:PutLifecycleConfiguration",
    ]
    resources = ["arn:aws:s3:::${var.project}-${each.key}-*"]
  }

  statement {
    sid = "ManageEnvSageMaker"
    actions = [
      "sagemaker:CreateModel", "sagemaker:DeleteModel",
      "sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig",
      "sagemaker:CreateEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:UpdateEndpoint",
      "sagemaker:UpdateEndpointWeightsAndCapacities", "sagemaker:AddTags", "sagemaker:DeleteTags",
    ]
    resources = [
      "arn:aws:sagemaker:${each.value.region}:${local.account_id}:model/${var.project}-${each.key}-*",
      "arn:aws:sagemaker:${each.value.region}:${local.account_id}:endpoint-config/${var.project}-${each.key}-*",
      "arn:aws:sagemaker:${each.value.region}:${local.account_id}:endpoint/${var.project}-${each.key}-*",
    ]
  }

  # `mlops endpoint rollback` (rollback.yml, under this role) checks that the release it
  # swapped back to answers: one InvokeEndpoint per variant of the env's own endpoints.
  statement {
    sid       = "CheckEnvEndpointsAnswer"
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = ["arn:aws:sagemaker:${each.value.region}:${local.account_id}:endpoint/${var.project}-${each.key}-*"]
  }

  # `mlops artifact push` (retrain.yml, under the first env's apply role) writes a model's
  # content-addressed files into the env's artifact bucket: objects under models/ only
  # (mlops creates them only when absent, If-None-Match), nothing else of the bucket.
  statement {
    sid       = "PushModelArtifacts"
    actions   = ["s3:PutObject"]
    resources = ["arn:aws:s3:::${var.project}-${each.key}-artifacts/models/*"]
  }

  statement {
    sid = "ManageEnvRoles"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:UpdateRole", "iam:TagRole", "iam:UntagRole",
      "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:UpdateAssumeRolePolicy",
      "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
      "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
    ]
    resources = [
      "arn:aws:iam::${local.account_id}:role/${var.project}-${each.key}-*",
      "arn:aws:iam::${local.account_id}:instance-profile/${var.project}-${each.key}-*",
    ]
  }

  statement {
    sid       = "PassEnvRolesToServices"
    actions   = ["iam:PassRole"]
    resources = ["arn:aws:iam::${local.account_id}:role/${var.project}-${each.key}-*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com", "ec2.amazonaws.com", "scheduler.amazonaws.com"]
    }
  }

  statement {
    sid = "ManageEnvRepositories"
    actions = [
      "ecr:CreateRepository", "ecr:DeleteRepository", "ecr:PutLifecyclePolicy",
      "ecr:DeleteLifecyclePolicy", "ecr:PutImageScanningConfiguration",
      "ecr:PutImageTagMutability", "ecr:TagResource", "ecr:UntagResource",
    ]
    resources = ["arn:aws:ecr:${each.value.region}:${local.account_id}:repository/${var.project}-${each.key}-*"]
  }

  statement {
    sid = "ManageEnvAlarmsSchedulesBudgets"
    actions = [
      "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource",
      "scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
      "budgets:ModifyBudget", "budgets:CreateBudgetAction", "budgets:DeleteBudgetAction",
    ]
    resources = [
      "arn:aws:cloudwatch:${each.value.region}:${local.account_id}:alarm:${var.project}-${each.key}-*",
      "arn:aws:scheduler:${each.value.region}:${local.account_id}:schedule/default/${var.project}-${each.key}-*",
      "arn:aws:budgets::${local.account_id}:budget/${var.project}-${each.key}-*",
    ]
  }

  statement {
    sid = "ManageEnvTrainingInstances"
    actions = [
      "ec2:RunInstances", "ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances",
      "ec2:ModifyInstanceAttribute", "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
      "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags",
    ]
    resources = ["*"]

    # EC2 ARNs are random ids, so scope by the env tag the provider's default_tags set.
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/env"
      values   = [each.key]
    }
  }

  dynamic "statement" {
    for_each = length(local.extending_envs[each.key]) > 0 ? [local.extending_envs[each.key]] : []

    content {
      sid     = "DenyEnvsWhoseNamesExtendThisOne"
      effect  = "Deny"
      actions = ["s3:*", "sagemaker:*", "iam:*", "ecr:*", "cloudwatch:*", "scheduler:*", "budgets:*"]
      resources = flatten([for other in statement.value : [
        "arn:aws:s3:::${var.project}-${other}-*",
        "arn:aws:sagemaker:*:${local.account_id}:*/${var.project}-${other}-*",
        "arn:aws:iam::${local.account_id}:role/${var.project}-${other}-*",
        "arn:aws:iam::${local.account_id}:instance-profile/${var.project}-${other}-*",
        "arn:aws:ecr:*:${local.account_id}:repository/${var.project}-${other}-*",
        "arn:aws:cloudwatch:*:${local.account_id}:alarm:${var.project}-${other}-*",
        "arn:aws:scheduler:*:${local.account_id}:schedule/default/${var.project}-${other}-*",
        "arn:aws:budgets::${local.account_id}:budget/${var.project}-${other}-*",
      ]])
    }
  }

  statement {
    sid       = "CreateTaggedTrainingInstances"
    actions   = ["ec2:RunInstances", "ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:CreateVolume"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/env"
      values   = [each.key]
    }
  }
}

resource "aws_iam_role" "plan" {
  for_each = var.envs

  name                 = "${var.project}-${each.key}-plan"
  description          = "Read-only Terraform plans of ${each.key} from pull requests of ${var.github_repo}."
  assume_role_policy   = data.aws_iam_policy_document.trust_plan.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "plan" {
  for_each = var.envs

  name   = "plan"
  role   = aws_iam_role.plan[each.key].id
  policy = data.aws_iam_policy_document.plan[each.key].json
}

resource "aws_iam_role" "apply" {
  for_each = var.envs

  name                 = "${var.project}-${each.key}-apply"
  description          = "Terraform applies of ${each.key} from the ${each.key} GitHub environment of ${var.github_repo}."
  assume_role_policy   = data.aws_iam_policy_document.trust_apply[each.key].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "apply" {
  for_each = var.envs

  name   = "apply"
  role   = aws_iam_role.apply[each.key].id
  policy = data.aws_iam_policy_document.apply[each.key].json
}
