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
  enabled = true
  name    = "churn"
  releases = {
    v1 = {
      stable = {
        image          = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
        model_data_url = "s3://mlops-demo-dev-artifacts/models/v1/model.tar.gz"
        instance_type  = "ml.t2.medium"
      }
    }
  }
  active_release          = "v1"
  ttl_hours               = 8 # dev endpoints are reaped the same day
  data_capture_percentage = 20
}

budget = {
  monthly_limit_usd = 200
  emails            = ["ml-platform@example.com"]
}
