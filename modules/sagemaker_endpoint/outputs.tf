output "endpoint_name" {
  description = "Endpoint name."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_config_name" {
  description = "Name of the EndpointConfig the endpoint serves (the active release)."
  value       = aws_sagemaker_endpoint.this.endpoint_config_name
}

output "endpoint_config_names" {
  description = "Every retained EndpointConfig name keyed by release: the rollback targets."
  value       = { for release, config in aws_sagemaker_endpoint_configuration.this : release => config.name }
}

output "model_names" {
  description = "Model names of the active release keyed by variant name."
  value       = { for variant in local.active_variants : variant => aws_sagemaker_model.this["${var.active_release}/${variant}"].name }
}

output "variant_names" {
  description = "Variant names of the active release (stable, and canary when present)."
  value       = local.active_variants
}

output "alarm_names" {
  description = "CloudWatch alarm names keyed by variant name, then errors_5xx and latency."
  value = {
    for variant, names in local.alarm_names : variant => {
      errors_5xx = aws_cloudwatch_metric_alarm.errors_5xx[variant].alarm_name
      latency    = aws_cloudwatch_metric_alarm.latency[variant].alarm_name
    }
  }
}
