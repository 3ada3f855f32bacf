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
  description = "Component name: the budget is named {project}-{env}-{name}."
  type        = string
  default     = "monthly"
}

variable "monthly_limit_usd" {
  description = "Monthly cost limit in USD for everything tagged with this env."
  type        = number

  validation {
    condition     = var.monthly_limit_usd > 0
    error_message = "monthly_limit_usd must be greater than 0."
  }
}

variable "cost_allocation_tag" {
  description = "Cost-allocation tag key the budget filters on (activated in Billing); its value is env."
  type        = string
  default     = "env"
}

variable "notifications" {
  description = "Alerts at each threshold (percent of the limit), both on ACTUAL and FORECASTED spend, to emails and/or SNS topic ARNs. Null: no notifications."
  type = object({
    thresholds     = optional(list(number), [50, 80, 100])
    emails         = optional(list(string), [])
    sns_topic_arns = optional(list(string), [])
  })
  default = null

  validation {
    condition     = var.notifications == null || try(length(var.notifications.emails) + length(var.notifications.sns_topic_arns) > 0, false)
    error_message = "notifications need at least one subscriber: set notifications.emails and/or notifications.sns_topic_arns, or set notifications = null."
  }

  validation {
    condition     = var.notifications == null || try(length(var.notifications.thresholds) > 0 && alltrue([for t in var.notifications.thresholds : t > 0 && t <= 1000]), false)
    error_message = "notifications.thresholds must be a non-empty list of percentages between 1 and 1000."
  }

  validation {
    condition     = var.notifications == null || try(alltrue([for e in var.notifications.emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))]), false)
    error_message = "notifications.emails must be email addresses."
  }

  validation {
    condition     = var.notifications == null || try(alltrue([for a in var.notifications.sns_topic_arns : can(regex("^arn:aws[a-z-]*:sns:", a))]), false)
    error_message = "notifications.sns_topic_arns must be SNS topic ARNs (arn:aws:sns:...)."
  }
}
