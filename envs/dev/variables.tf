variable "env" {
  description = "Environment this root manages: its name in mlops.yaml and its folder under envs/ (mlops checks they agree before planning)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.env)) && length(var.env) <= 12
    error_message = "env must be at most 12 lowercase letters and digits, starting with a letter, in words joined by single hyphens (e.g. dev, qa, prod-eu)."
  }
}

variable "tier" {
  description = "Tier of this env (dev, staging or prod), as in mlops.yaml: it drives policy (instance allowlist, destroy protection, endpoint TTLs), not the name."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.tier)
    error_message = "tier must be one of dev, staging, prod."
  }
}

variable "project" {
  description = "Project name: the first part of every resource name ({project}-{env}-{component})."
  type        = string
}

variable "region" {
  description = "AWS region of every resource in this env, as in mlops.yaml (the env's region, else the top-level one)."
  type        = string
}

variable "owner" {
  description = "Team that owns this env (owner tag)."
  type        = string
}

variable "cost" {
  description = "Cost centre (cost tag), the key cost reports and budgets group by."
  type        = string
}

variable "artifacts" {
  description = "The artifact bucket (models, datasets, data capture): days before noncurrent versions move to STANDARD_IA, and whether destroy may delete a non-empty bucket (never in prod)."
  type = object({
    noncurrent_to_ia_days = optional(number, 30)
    force_destroy         = optional(bool, false)
  })
  default = {}
}

variable "model_images" {
  description = "The ECR repository for model-server images: how many images to keep."
  type = object({
    keep_last_images = optional(number, 30)
    force_delete     = optional(bool, false)
  })
  default = {}
}

variable "trainer" {
  description = "The GPU training instance. Off by default; ssh_cidrs must be narrow (validation rejects /0). vpc_id/subnet_id default to the default VPC. stop_cron stops it every evening."
  type = object({
    enabled       = bool
    ami           = optional(string, "")
    instance_type = optional(string, "g4dn.xlarge")
    ssh_cidrs     = optional(map(string), {})
    vpc_id        = optional(string)
    subnet_id     = optional(string)
    stop_cron     = optional(string)
  })
  default = { enabled = false }

  validation {
    condition     = !var.trainer.enabled || var.trainer.ami != ""
    error_message = "trainer.ami is required when trainer.enabled is true."
  }
}

variable "serving" {
  description = "The SageMaker endpoint: releases (release -> variant -> model), the active release, TTL in hours (the reaper deletes older endpoints), data capture sampling and the per-variant alarms (5xx error rate %, latency p99 ms, period and evaluation). Disabled until the env's first model is pushed and released."
  type = object({
    enabled = bool
    name    = optional(string, "model")
    releases = optional(map(map(object({
      image          = string
      model_data_url = string
      environment    = optional(map(string), {})
      instance_type  = optional(string, "ml.t2.medium")
      instance_count = optional(number, 1)
      initial_weight = optional(number)
    }))), {})
    active_release          = optional(string, "")
    ttl_hours               = optional(number)
    data_capture_percentage = optional(number, 0)
    alarms = optional(object({
      errors_5xx_rate_percent = optional(number, 5)
      latency_p99_ms          = optional(number, 1000)
      period_seconds          = optional(number, 60)
      evaluation_periods      = optional(number, 3)
      datapoints_to_alarm     = optional(number)
    }), {})
  })
  default = { enabled = false }
}

variable "budget" {
  description = "Monthly budget of this env in USD, filtered by the env cost-allocation tag, with alerts at thresholds (percent) to emails and/or SNS topics."
  type = object({
    monthly_limit_usd = number
    thresholds        = optional(list(number), [50, 80, 100])
    emails            = optional(list(string), [])
    sns_topic_arns    = optional(list(string), [])
  })
}
