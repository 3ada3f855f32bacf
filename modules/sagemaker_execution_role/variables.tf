variable "project" {
  description = "Project name: the first part of every resource name ({project}-{env}-{name})."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project))
    error_message = "project must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "env" {
  description = "Environment this instance belongs to: its name in mlops.yaml, part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.env)) && length(var.env) <= 12
    error_message = "env must be at most 12 lowercase letters and digits, starting with a letter, in words joined by single hyphens (e.g. dev, qa, prod-eu)."
  }
}

variable "tags" {
  description = "Tags for every taggable resource, merged with the provider default_tags. Must contain env, owner and cost (the cost-allocation tags); env must equal var.env."
  type        = map(string)

  validation {
    condition     = length(setsubtract(["env", "owner", "cost"], [for k, v in var.tags : k if trimspace(v) != ""])) == 0
    error_message = "tags must contain non-empty env, owner and cost keys; missing: ${join(", ", sort(setsubtract(["env", "owner", "cost"], [for k, v in var.tags : k if trimspace(v) != ""])))}."
  }
}

variable "name" {
  description = "Component name: the role is named {project}-{env}-{name}."
  type        = string
  default     = "sagemaker"

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-_]{0,30}$", var.name))
    error_message = "name must be 1-31 characters of letters, digits, hyphens and underscores."
  }
}

variable "artifact_bucket_arn" {
  description = "ARN of the bucket holding model artifacts (read-only for the role)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9.-]+$", var.artifact_bucket_arn))
    error_message = "artifact_bucket_arn must be a bucket ARN like arn:aws:s3:::my-bucket."
  }
}

variable "artifact_prefixes" {
  description = "Key prefixes under the artifact bucket the role may read, e.g. [\"models/\"]. [\"\"] means the whole bucket."
  type        = list(string)
  default     = [""]

  validation {
    condition     = length(var.artifact_prefixes) > 0 && alltrue([for p in var.artifact_prefixes : !startswith(p, "/") && !strcontains(p, "*")])
    error_message = "artifact_prefixes must be a non-empty list of key prefixes without a leading slash or wildcards."
  }
}

variable "data_capture" {
  description = "Where endpoint data capture writes (s3:PutObject is allowed there only). bucket_arn defaults to the artifact bucket. Null: no write access to S3."
  type = object({
    bucket_arn = optional(string)
    prefix     = string
  })
  default = null

  validation {
    condition     = var.data_capture == null || (try(var.data_capture.prefix, "") != "" && !startswith(try(var.data_capture.prefix, "/"), "/"))
    error_message = "data_capture.prefix must be a non-empty key prefix without a leading slash, e.g. data-capture/."
  }
}

variable "ecr_repository_arns" {
  description = "ECR repository ARNs whose images the role may pull."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", arn))])
    error_message = "ecr_repository_arns must be ECR repository ARNs like arn:aws:ecr:us-east-1:123456789012:repository/name."
  }
}

variable "kms_key_arns" {
  description = "KMS key ARNs the role may use to decrypt artifacts and encrypt data capture (only when the buckets use SSE-KMS)."
  type        = list(string)
  default     = []
}

variable "metric_namespaces" {
  description = "CloudWatch namespaces (StringLike patterns) the role may publish metrics to."
  type        = list(string)
  default     = ["/aws/sagemaker/*"]
}
