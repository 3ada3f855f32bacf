env     = "staging"
tier    = "staging"
project = "mlops-demo"
region  = "us-east-1"
owner   = "ml-platform"
cost    = "ml-serving"

artifacts = {
  noncurrent_to_ia_days = 30
}

trainer = {
  enabled = false
}

serving = {
  # First release through Git: SageMaker needs the artifact before CreateEndpoint, so an
  # env serves nothing until `mlops train`, `mlops artifact push --env staging` and a
  # release (releases + active_release here) are merged. See docs/models.md.
  enabled                 = false
  name                    = "churn"
  ttl_hours               = 12
  data_capture_percentage = 50
}

budget = {
  monthly_limit_usd = 300
  emails            = ["ml-platform@example.com"]
}
