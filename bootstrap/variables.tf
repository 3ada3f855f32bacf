variable "project" {
  description = "Project name; prefixes every name (state bucket, roles)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}[a-z0-9]$", var.project))
    error_message = "project must be 3-30 characters of lowercase letters, digits and hyphens."
  }
}

variable "region" {
  description = "AWS region of the state bucket (mlops.yaml's top-level region); each env's own region is in envs."
  type        = string
  default     = "us-east-1"
}

variable "owner" {
  description = "Team that owns the platform (owner tag)."
  type        = string
}

variable "github_repo" {
  description = "GitHub repository (owner/name) whose workflows may assume the plan and apply roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repo))
    error_message = "github_repo must look like owner/name."
  }
}

variable "envs" {
  description = "The envs that live in this account (mlops.yaml; `mlops bootstrap` passes them), each with its region and whether it is protected. Each gets a plan role and an apply role, scoped to its own state key and to resources of its own name prefix in its region. A protected env's apply role trusts only its GitHub environment; the others' also trust a push to default_branch (apply on merge)."
  type = map(object({
    region    = string
    protected = bool
  }))

  validation {
    condition     = length(var.envs) > 0 && alltrue([for name in keys(var.envs) : can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", name)) && length(name) <= 12])
    error_message = "envs must name at least one env, each at most 12 lowercase letters and digits, starting with a letter, in words joined by single hyphens."
  }

  validation {
    condition     = alltrue([for env in values(var.envs) : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", env.region))])
    error_message = "each env's region must be an AWS region name such as us-east-1."
  }
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider; set false when the account already has one."
  type        = bool
  default     = true
}

variable "state_bucket_force_destroy" {
  description = "Allow destroying the state bucket with objects in it. Only for throwaway accounts (the embedded cloud demo)."
  type        = bool
  default     = false
}

variable "default_branch" {
  description = "The repository's default branch: pushes to it (merges) may assume the apply roles of the envs that are not protected, and scheduled drift and reaper runs from it the drift and reaper roles."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.default_branch))
    error_message = "default_branch must be a branch name such as main."
  }
}
