# The SageMaker execution role: what models and endpoints run as. Least privilege by
# construction: read artifacts, write only data capture, pull only listed images, log
# only to SageMaker log groups. No managed *FullAccess policy is attached.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name    = "${var.project}-${var.env}-${var.name}"
  tags    = merge(var.tags, { project = var.project })
  account = data.aws_caller_identity.current.account_id
  logs    = "arn:${data.aws_partition.current.partition}:logs:*:${local.account}:log-group:/aws/sagemaker/*"

  whole_bucket   = contains(var.artifact_prefixes, "")
  capture_bucket = var.data_capture == null ? null : coalesce(var.data_capture.bucket_arn, var.artifact_bucket_arn)
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject"]
    resources = [for p in var.artifact_prefixes : "${var.artifact_bucket_arn}/${p}*"]
  }

  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket"]
    resources = [var.artifact_bucket_arn]

    dynamic "condition" {
      for_each = local.whole_bucket ? [] : [var.artifact_prefixes]
      content {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = [for p in condition.value : "${p}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.data_capture == null ? [] : [var.data_capture.prefix]
    content {
      sid       = "WriteDataCapture"
      actions   = ["s3:PutObject"]
      resources = ["${local.capture_bucket}/${trimsuffix(statement.value, "/")}/*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) == 0 ? [] : [var.ecr_repository_arns]
    content {
      sid       = "PullImages"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_arns) == 0 ? [] : [1]
    content {
      sid       = "EcrLogin"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"] # GetAuthorizationToken has no resource-level permissions.
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [local.logs, "${local.logs}:log-stream:*"]
  }

  statement {
    sid       = "Metrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions; scoped by namespace.

    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = var.metric_namespaces
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) == 0 ? [] : [var.kms_key_arns]
    content {
      sid       = "UseKmsKeys"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = statement.value
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = local.name
  description          = "SageMaker execution role for ${var.project} ${var.env}"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
  tags                 = local.tags

  lifecycle {
    precondition {
      condition     = var.tags["env"] == var.env
      error_message = "tags.env (${var.tags["env"]}) must equal env (${var.env})."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
