output "repository_url" {
  description = "Repository URL (registry/name) to push and pull images."
  value       = aws_ecr_repository.this.repository_url
}

output "arn" {
  description = "Repository ARN (for IAM policies such as the SageMaker execution role's ECR pull)."
  value       = aws_ecr_repository.this.arn
}

output "name" {
  description = "Repository name."
  value       = aws_ecr_repository.this.name
}
