terraform {
  required_version = ">= 1.10" # S3 native state locking (use_lockfile)

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

provider "aws" {
  region = var.region

  # Every taggable resource gets these; modules add their own through `tags`.
  default_tags {
    tags = local.tags
  }
}
