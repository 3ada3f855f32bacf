data "aws_caller_identity" "this" {}

locals {
  account_id   = data.aws_caller_identity.this.account_id
  state_bucket = "${var.project}-tfstate-${local.account_id}"
}

# Remote state for every env root. Locking uses S3 native lock files (`use_lockfile`,
# Terraform >= 1.10): the lock is `<key>.tflock` in this bucket, so no DynamoDB table.
resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV2_AWS_61:State history is the recovery path for a corrupted or wrongly applied state; it is small, so every noncurrent version is kept on purpose.
  #checkov:skip=CKV_AWS_145:SSE-S3 encrypts state at rest; a customer-managed key is opt-in because its key policy must then admit every plan and apply role.
  bucket        = local.state_bucket
  force_destroy = var.state_bucket_force_destroy
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

data "aws_iam_policy_document" "state_tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.state.arn,
      "${aws_s3_bucket.state.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.state]
}
