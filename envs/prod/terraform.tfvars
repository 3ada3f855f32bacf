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
  enabled = true
  name    = "churn"
  releases = {
    v1 = {
      stable = {
        image          = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
        model_data_url = "s3://mlops-demo-prod-artifacts/models/v1/model.tar.gz"
        instance_type  = "ml.m5.large"
        instance_count = 2
      }
    }
  }
  active_release          = "v1"
  data_capture_percentage = 10
  errors_5xx_threshold    = 5
  latency_p99_ms          = 500
}

budget = {
  monthly_limit_usd = 1000
  thresholds        = [50, 80, 100, 120]
  emails            = ["ml-platform@example.com"]
}
