# Per-variant alarms on the active release. The canary tooling reads their names from the
# alarm_names output and rolls back when one fires.
#
# The 5xx alarm is an error *rate* (metric math: 100 * 5xx errors / invocations per period),
# so a canary carrying 10 % of the traffic is judged by its own failure rate, not by an error
# count that depends on how much traffic it gets. A period without invocations has no rate
# (CloudWatch drops 0/0) and counts as not breaching.

locals {
  alarm_names = {
    for variant in local.active_variants : variant => {
      errors_5xx = "${local.prefix}-${variant}-5xx"
      latency    = "${local.prefix}-${variant}-latency-p99"
    }
  }
  datapoints_to_alarm = coalesce(var.alarms.datapoints_to_alarm, var.alarms.evaluation_periods)
}

resource "aws_cloudwatch_metric_alarm" "errors_5xx" {
  for_each = local.alarm_names

  alarm_name          = each.value.errors_5xx
  alarm_description   = "5xx error rate above ${var.alarms.errors_5xx_rate_percent}% of invocations on ${local.prefix} variant ${each.key}"
  threshold           = var.alarms.errors_5xx_rate_percent
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = var.alarms.evaluation_periods
  datapoints_to_alarm = local.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarms.actions
  ok_actions          = var.alarms.actions
  tags                = merge(local.tags, { variant = each.key })

  metric_query {
    id          = "errors"
    return_data = false

    metric {
      namespace   = "AWS/SageMaker"
      metric_name = "Invocation5XXErrors"
      period      = var.alarms.period_seconds
      stat        = "Sum"
      dimensions = {
        EndpointName = aws_sagemaker_endpoint.this.name
        VariantName  = each.key
      }
    }
  }

  metric_query {
    id          = "invocations"
    return_data = false

    metric {
      namespace   = "AWS/SageMaker"
      metric_name = "Invocations"
      period      = var.alarms.period_seconds
      stat        = "Sum"
      dimensions = {
        EndpointName = aws_sagemaker_endpoint.this.name
        VariantName  = each.key
      }
    }
  }

  metric_query {
    id          = "error_rate"
    expression  = "100 * errors / invocations"
    label       = "5xx error rate (%)"
    return_data = true
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
  datapoints_to_alarm = local.datapoints_to_alarm
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
