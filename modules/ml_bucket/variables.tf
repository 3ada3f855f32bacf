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
  description = "Tier of the env (dev, staging or prod, from mlops.yaml): what policy applies to it. In a prod-tier env force_destroy must stay false."
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
  description = "Component name: the last part of the bucket name, e.g. artifacts gives {project}-{env}-artifacts."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,20}[a-z0-9]$", var.name))
    error_message = "name must be 2-22 characters of lowercase letters, digits and hyphens."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds objects. Leave false outside throwaway environments; a prod-tier env refuses true."
  type        = bool
  default     = false

  validation {
    condition     = !(var.force_destroy && var.tier == "prod")
    error_message = "force_destroy must be false in a prod-tier env: production artifacts are never deleted with their bucket."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN for default encryption (SSE-KMS). Null uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:...) or null."
  }
}

variable "lifecycle_rules" {
  description = "Noncurrent-version lifecycle: move noncurrent versions to STANDARD_IA after noncurrent_to_ia_days (S3 minimum 30), optionally expire them after noncurrent_expiration_days, and abort incomplete multipart uploads after abort_multipart_days."
  type = object({
    noncurrent_to_ia_days      = optional(number, 30)
    noncurrent_expiration_days = optional(number)
    abort_multipart_days       = optional(number, 7)
  })
  default = {}

  validation {
    condition     = var.lifecycle_rules.noncurrent_to_ia_days >= 30
    error_message = "lifecycle_rules.noncurrent_to_ia_days must be at least 30 (the S3 minimum for STANDARD_IA)."
  }

  validation {
    condition = (
      var.lifecycle_rules.noncurrent_expiration_days == null ||
      try(var.lifecycle_rules.noncurrent_expiration_days > var.lifecycle_rules.noncurrent_to_ia_days, false)
    )
    error_message = "lifecycle_rules.noncurrent_expiration_days must be null or greater than noncurrent_to_ia_days."
  }

  validation {
    condition     = var.lifecycle_rules.abort_multipart_days >= 1
    error_message = "lifecycle_rules.abort_multipart_days must be at least 1."
  }
}

variable "tls_only" {
  description = "Attach a bucket policy that denies every request not made over TLS (aws:SecureTransport = false)."
  type        = bool
  default     = true
}
