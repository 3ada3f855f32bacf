terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # >= 5.50: aws_budgets_budget accepts tags (hashicorp/terraform-provider-aws#37361).
      version = ">= 5.50"
    }
  }
}
