locals {
  name = "${var.project}-${var.env}-${var.name}"
  tags = merge(var.tags, { project = var.project })

  # One notification per (threshold, ACTUAL|FORECASTED).
  notifications = var.notifications == null ? [] : flatten([
    for threshold in distinct(var.notifications.thresholds) : [
      for type in ["ACTUAL", "FORECASTED"] : { threshold = threshold, type = type }
    ]
  ])
}

resource "aws_budgets_budget" "this" {
  name         = local.name
  budget_type  = "COST"
  limit_amount = format("%.2f", var.monthly_limit_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"
  tags         = local.tags

  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:%s$%s", var.cost_allocation_tag, var.env)]
  }

  dynamic "notification" {
    for_each = local.notifications
    content {
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value.threshold
      threshold_type             = "PERCENTAGE"
      notification_type          = notification.value.type
      subscriber_email_addresses = var.notifications.emails
      subscriber_sns_topic_arns  = var.notifications.sns_topic_arns
    }
  }

  lifecycle {
    precondition {
      condition     = var.tags["env"] == var.env
      error_message = "tags.env (${var.tags["env"]}) must equal env (${var.env})."
    }
  }
}
