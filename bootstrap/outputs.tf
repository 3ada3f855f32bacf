output "state_bucket" {
  description = "Name of the remote state bucket every env root uses (backend `bucket`)."
  value       = aws_s3_bucket.state.id
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub Actions OIDC provider."
  value       = local.oidc_provider_arn
}

output "plan_role_arns" {
  description = "Per env: the role pull-request plans assume."
  value       = { for env, role in aws_iam_role.plan : env => role.arn }
}

output "apply_role_arns" {
  description = "Per env: the role applies from the matching GitHub environment assume."
  value       = { for env, role in aws_iam_role.apply : env => role.arn }
}
