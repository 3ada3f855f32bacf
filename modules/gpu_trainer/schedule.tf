# Off-hours stop: EventBridge Scheduler calls ec2:StopInstances directly through its
# universal (aws-sdk) target, with a role that can stop this one instance and nothing else.

data "aws_caller_identity" "current" {
  count = var.stop_schedule == null ? 0 : 1
}

data "aws_iam_policy_document" "scheduler_assume" {
  count = var.stop_schedule == null ? 0 : 1

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current[0].account_id]
    }
  }
}

data "aws_iam_policy_document" "stop_instance" {
  count = var.stop_schedule == null ? 0 : 1

  statement {
    actions   = ["ec2:StopInstances"]
    resources = [aws_instance.this.arn]
  }
}

resource "aws_iam_role" "scheduler" {
  count = var.stop_schedule == null ? 0 : 1

  name               = "${local.name}-stop"
  description        = "EventBridge Scheduler: stop ${local.name} off-hours"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume[0].json
  tags               = local.tags
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.stop_schedule == null ? 0 : 1

  name   = "stop-instance"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.stop_instance[0].json
}

resource "aws_scheduler_schedule" "stop" {
  count = var.stop_schedule == null ? 0 : 1

  name                         = "${local.name}-stop"
  description                  = "Stop ${local.name} off-hours"
  schedule_expression          = var.stop_schedule.cron
  schedule_expression_timezone = var.stop_schedule.timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"
    role_arn = aws_iam_role.scheduler[0].arn
    input    = jsonencode({ InstanceIds = [aws_instance.this.id] })
  }
}
