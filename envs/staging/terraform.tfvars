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
  enabled = true
  name    = "churn"
  releases = {
    v1 = {
      stable = {
        image          = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
        model_data_url = "s3://mlops-demo-staging-artifacts/models/v1/model.tar.gz"
        instance_type  = "ml.t2.medium"
      }
    }
  }
  active_release          = "v1"
  ttl_hours               = 12
  data_capture_percentage = 50
}

budget = {
  monthly_limit_usd = 300
  emails            = ["ml-platform@example.com"]
}
