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
  description = "Tier of the env (dev, staging or prod, from mlops.yaml): what policy applies to it. In a dev-tier env the endpoint must have a ttl."
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
  description = "Component name: the endpoint is named {project}-{env}-{name}."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,18}[a-z0-9]$", var.name))
    error_message = "name must be 2-20 characters of lowercase letters, digits and hyphens."
  }
}

variable "execution_role_arn" {
  description = "IAM role the models run as (see the sagemaker_execution_role module)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.execution_role_arn))
    error_message = "execution_role_arn must be an IAM role ARN like arn:aws:iam::123456789012:role/name."
  }
}

variable "releases" {
  description = <<-EOT
    Releases keyed by release version (e.g. v12 or a short git sha). Each release becomes one
    immutable EndpointConfig; each release maps variant names (stable, optional canary) to a model
    (image, model_data_url, environment) and its serving capacity. Keep the previous release in the
    map to retain its EndpointConfig for rollback; remove it to delete it. initial_weight is a
    relative whole number (default: stable 90 / canary 10, or stable 100 alone).
  EOT
  type = map(map(object({
    image          = string
    model_data_url = string
    environment    = optional(map(string), {})
    instance_type  = optional(string, "ml.m5.large")
    instance_count = optional(number, 1)
    initial_weight = optional(number)
  })))

  validation {
    condition     = length(var.releases) > 0 && alltrue([for k in keys(var.releases) : can(regex("^[a-zA-Z0-9]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?$", k))])
    error_message = "releases must not be empty and each release key must be 1-16 letters, digits or hyphens (it becomes part of SageMaker names)."
  }

  validation {
    condition     = alltrue([for r in values(var.releases) : contains(keys(r), "stable") && length(setsubtract(keys(r), ["stable", "canary"])) == 0])
    error_message = "every release must have a stable variant and may add a canary variant; no other variant names are allowed."
  }

  validation {
    condition     = alltrue(flatten([for r in values(var.releases) : [for v in values(r) : can(regex("^s3://[a-z0-9.-]+/.+", v.model_data_url))]]))
    error_message = "model_data_url must be an S3 URI of an immutable artifact, e.g. s3://bucket/models/v12/model.tar.gz."
  }

  validation {
    condition     = alltrue(flatten([for r in values(var.releases) : [for v in values(r) : !endswith(v.image, ":latest") && strcontains(v.image, "/")]]))
    error_message = "image must be a full image URI pinned to an immutable tag or digest, never :latest."
  }

  validation {
    condition     = alltrue(flatten([for r in values(var.releases) : [for v in values(r) : v.instance_count >= 1 && (v.initial_weight == null ? true : v.initial_weight >= 0 && floor(v.initial_weight) == v.initial_weight)]]))
    error_message = "instance_count must be at least 1 and initial_weight a whole number, 0 or more (weights are relative: 90 and 10 give 90% / 10%)."
  }
}

variable "active_release" {
  description = "Key of releases the endpoint serves. Changing it is an UpdateEndpoint to that release's EndpointConfig."
  type        = string
}

variable "data_capture" {
  description = "Data capture of requests and responses to S3: enable flag, sampling percentage and destination S3 URI prefix (e.g. s3://bucket/data-capture)."
  type = object({
    enabled             = optional(bool, false)
    sampling_percentage = optional(number, 100)
    destination_s3_uri  = optional(string)
  })
  default = {}

  validation {
    condition     = !var.data_capture.enabled || can(regex("^s3://[a-z0-9.-]+(/.*)?$", var.data_capture.destination_s3_uri))
    error_message = "data_capture.destination_s3_uri must be an S3 URI (s3://bucket/prefix) when data capture is enabled."
  }

  validation {
    condition     = var.data_capture.sampling_percentage >= 1 && var.data_capture.sampling_percentage <= 100
    error_message = "data_capture.sampling_percentage must be between 1 and 100."
  }
}

variable "alarms" {
  description = "Per-variant CloudWatch alarms: the 5xx error rate in percent of invocations and ModelLatency p99 in milliseconds, each per period_seconds (10, 30 or a multiple of 60), in ALARM when datapoints_to_alarm (default: all) of the last evaluation_periods breach; actions are SNS topic ARNs."
  type = object({
    errors_5xx_rate_percent = optional(number, 5)
    latency_p99_ms          = optional(number, 1000)
    period_seconds          = optional(number, 60)
    evaluation_periods      = optional(number, 3)
    datapoints_to_alarm     = optional(number)
    actions                 = optional(list(string), [])
  })
  default = {}

  validation {
    condition     = var.alarms.errors_5xx_rate_percent > 0 && var.alarms.errors_5xx_rate_percent <= 100 && var.alarms.latency_p99_ms > 0
    error_message = "alarms.errors_5xx_rate_percent must be in (0, 100] and alarms.latency_p99_ms positive."
  }

  validation {
    condition     = var.alarms.evaluation_periods >= 1 && (var.alarms.datapoints_to_alarm == null ? true : var.alarms.datapoints_to_alarm >= 1 && var.alarms.datapoints_to_alarm <= var.alarms.evaluation_periods)
    error_message = "alarms.evaluation_periods must be at least 1 and datapoints_to_alarm between 1 and evaluation_periods."
  }

  validation {
    condition     = contains([10, 30, 60], var.alarms.period_seconds) || (var.alarms.period_seconds >= 60 && var.alarms.period_seconds % 60 == 0)
    error_message = "alarms.period_seconds must be 10, 30 or a multiple of 60."
  }

  validation {
    condition     = var.alarms.period_seconds * var.alarms.evaluation_periods <= 86400
    error_message = "alarms.period_seconds times evaluation_periods must not exceed one day (a CloudWatch limit)."
  }
}

variable "ttl" {
  description = "Time to live for the endpoint, as tags the reaper reads: hours (tag ttl_hours: deleted when older than that since its last deployment) and/or expires_at (tag expires_at, RFC 3339 UTC). Null: no TTL (long-lived endpoints only; a dev-tier env requires one)."
  type = object({
    hours      = optional(number)
    expires_at = optional(string)
  })
  default = null

  validation {
    condition     = var.ttl == null || try(var.ttl.hours != null || var.ttl.expires_at != null, false)
    error_message = "ttl must set hours and/or expires_at, or be null."
  }

  validation {
    condition     = var.tier != "dev" || var.ttl != null
    error_message = "a dev-tier endpoint must have a ttl (hours and/or expires_at): the reaper deletes dev endpoints by age, and one alive overnight is a failure."
  }

  validation {
    condition     = try(var.ttl.hours == null, true) || try(var.ttl.hours >= 1 && var.ttl.hours <= 168, false)
    error_message = "ttl.hours must be between 1 and 168."
  }

  validation {
    condition     = try(var.ttl.expires_at == null, true) || can(regex("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$", var.ttl.expires_at))
    error_message = "ttl.expires_at must be an RFC 3339 UTC timestamp like 2025-01-31T18:00:00Z."
  }
}
