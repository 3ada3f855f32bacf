# Per-variant alarms on the active release. The canary tooling reads their names from the
# alarm_names output and rolls back when one fires.

locals {
  alarm_names = {
    for variant in local.active_variants : variant => {
      errors_5xx = "${local.prefix}-${variant}-5xx"
      latency    = "${local.prefix}-${variant}-latency-p99"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "errors_5xx" {
  for_each = local.alarm_names

  alarm_name          = each.value.errors_5xx
  alarm_description   = "5xx invocation errors on ${local.prefix} variant ${each.key}"
  namespace           = "AWS/SageMaker"
  metric_name         = "Invocation5XXErrors"
  statistic           = "Sum"
  period              = var.alarms.period_seconds
  evaluation_periods  = var.alarms.evaluation_periods
  threshold           = var.alarms.errors_5xx_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarms.actions
  ok_actions          = var.alarms.actions
  tags                = merge(local.tags, { variant = each.key })

  dimensions = {
    EndpointName = aws_sagemaker_endpoint.this.name
    VariantName  = each.key
  }
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  for_each = local.alarm_names

  alarm_name          = each.value.latency
  alarm_description   = "ModelLatency p99 above ${var.alarms.latency_p99_ms} ms on ${local.prefix} variant ${each.key}"
  namespace           = "AWS/SageMaker"
  metric_name         = "ModelLatency"
  extended_statistic  = "p99"
  period              = var.alarms.period_seconds
  evaluation_periods  = var.alarms.evaluation_periods
  threshold           = var.alarms.latency_p99_ms * 1000 # ModelLatency is in microseconds.
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarms.actions
  ok_actions          = var.alarms.actions
  tags                = merge(local.tags, { variant = each.key })

  dimensions = {
    EndpointName = aws_sagemaker_endpoint.this.name
    VariantName  = each.key
  }
}
