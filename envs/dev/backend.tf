# Remote state in the bucket bootstrap/ created in this env's account; `mlops` passes
# `bucket` (it contains the account id) and `region` (the bucket's: mlops.yaml's top-level
# region, whatever the env's own region) at init. Locking: S3 native lock file (<key>.tflock).
terraform {
  backend "s3" {
    key          = "envs/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
