env     = "prod"
tier    = "prod"
project = "mlops-demo"
region  = "us-east-1"
owner   = "ml-platform"
cost    = "ml-serving"

artifacts = {
  noncurrent_to_ia_days = 30
  force_destroy         = false # never delete production artifacts with the bucket
}

trainer = {
  enabled = false
}

serving = {
  # First release through Git: SageMaker needs the artifact before CreateEndpoint, so an
  # env serves nothing until `mlops train`, `mlops artifact push --env prod` and a release
  # (releases + active_release here) are merged. See docs/models.md.
  enabled                 = false
  name                    = "churn"
  data_capture_percentage = 10
  alarms = {
    errors_5xx_rate_percent = 1
    latency_p99_ms          = 500
  }
}

budget = {
  monthly_limit_usd = 1000
  thresholds        = [50, 80, 100, 120]
  emails            = ["ml-platform@example.com"]
}
