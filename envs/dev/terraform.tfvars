env     = "dev"
tier    = "dev"
project = "mlops-demo"
region  = "us-east-1"
owner   = "ml-platform"
cost    = "ml-experiments"

artifacts = {
  noncurrent_to_ia_days = 30
  force_destroy         = true # dev data is re-derivable
}

model_images = {
  keep_last_images = 10
  force_delete     = true
}

trainer = {
  enabled       = true
  ami           = "ami-12c6146b" # replace with a Deep Learning AMI id of your region
  instance_type = "g4dn.xlarge"
  ssh_cidrs     = { office = "203.0.113.7/32" }
  stop_cron     = "cron(0 19 * * ? *)" # every evening: nothing GPU runs overnight
}

serving = {
  # First release through Git: SageMaker needs the artifact before CreateEndpoint, so an
  # env serves nothing until `mlops train`, `mlops artifact push --env dev` and a release
  # (releases + active_release here) are merged. See docs/models.md.
  enabled                 = false
  name                    = "churn"
  ttl_hours               = 8 # dev endpoints are reaped the same day
  data_capture_percentage = 20
  alarms = {
    period_seconds     = 10 # high-resolution alarms: a dev canary is judged in seconds
    evaluation_periods = 1
  }
}

budget = {
  monthly_limit_usd = 200
  emails            = ["ml-platform@example.com"]
}
