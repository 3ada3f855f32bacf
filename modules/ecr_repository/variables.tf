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

variable "tier" {
  description = "Tier of the env (dev, staging or prod, from mlops.yaml): what policy applies to it. In a prod-tier env force_delete must stay false."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.tier)
    error_message = "tier must be one of dev, staging, prod."
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
  description = "Component name: the repository is named {project}-{env}-{name}."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-_]{0,40}[a-z0-9]$", var.name))
    error_message = "name must be 2-42 characters of lowercase letters, digits, hyphens and underscores."
  }
}

variable "keep_last_images" {
  description = "How many most recent images the lifecycle policy keeps; older ones expire."
  type        = number
  default     = 30

  validation {
    condition     = var.keep_last_images >= 1 && var.keep_last_images <= 10000 && floor(var.keep_last_images) == var.keep_last_images
    error_message = "keep_last_images must be a whole number between 1 and 10000."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN to encrypt images with. Null uses AES256 (ECR-managed keys)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:...) or null."
  }
}

variable "force_delete" {
  description = "Allow `terraform destroy` to delete a repository that still holds images; a prod-tier env refuses true."
  type        = bool
  default     = false

  validation {
    condition     = !(var.force_delete && var.tier == "prod")
    error_message = "force_delete must be false in a prod-tier env: the images production serves are never deleted with their repository."
  }
}
