terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
  # Bootstrap keeps its own state locally on purpose: it creates the remote backend the
  # env roots use, so it cannot live in it. `mlops bootstrap` sets the path; keep that
  # file somewhere safe (it holds no secrets), or re-import the resources later.
  backend "local" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project    = var.project
      owner      = var.owner
      env        = "shared"
      cost       = "platform"
      managed-by = "terraform-bootstrap"
    }
  }
}
