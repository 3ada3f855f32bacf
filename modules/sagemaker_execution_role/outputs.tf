output "arn" {
  description = "Role ARN (the execution_role_arn of SageMaker models)."
  value       = aws_iam_role.this.arn
}

output "name" {
  description = "Role name."
  value       = aws_iam_role.this.name
}
