# Remote state in the bucket bootstrap/ created; `mlops` passes `bucket` at init because
# it contains the account id. Locking: S3 native lock file (<key>.tflock).
terraform {
  backend "s3" {
    key          = "envs/prod/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}
