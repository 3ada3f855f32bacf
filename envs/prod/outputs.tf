output "artifact_bucket" {
  description = "Name of the artifact bucket (models, datasets, data capture)."
  value       = module.artifacts.name
}

output "model_image_repository_url" {
  description = "ECR repository URL for model-server images."
  value       = module.model_images.repository_url
}

output "sagemaker_role_arn" {
  description = "ARN of the SageMaker execution role."
  value       = module.sagemaker_role.arn
}

output "endpoint" {
  description = "The SageMaker endpoint (null when serving is disabled): name, active config, retained configs by release, and the alarm names the canary tooling reads."
  value = var.serving.enabled ? {
    name                  = module.endpoint[0].endpoint_name
    config_name           = module.endpoint[0].endpoint_config_name
    endpoint_config_names = module.endpoint[0].endpoint_config_names
    alarm_names           = module.endpoint[0].alarm_names
  } : null
}

output "trainer" {
  description = "The GPU trainer (null when disabled): instance id, public IP and security group."
  value = var.trainer.enabled ? {
    instance_id       = module.trainer[0].instance_id
    public_ip         = module.trainer[0].public_ip
    security_group_id = module.trainer[0].security_group_id
  } : null
}

output "budget_name" {
  description = "Name of the env's monthly budget."
  value       = module.budget.name
}
