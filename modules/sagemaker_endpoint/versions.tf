terraform {
  required_version = ">= 1.9" # validations that read another variable (tier)

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}
