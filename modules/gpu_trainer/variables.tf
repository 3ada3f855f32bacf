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
  description = "Component name: resources are named {project}-{env}-{name}."
  type        = string
  default     = "trainer"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,20}[a-z0-9]$", var.name))
    error_message = "name must be 2-22 characters of lowercase letters, digits and hyphens."
  }
}

variable "ami" {
  description = "AMI id to boot, e.g. a Deep Learning AMI for the region (pin it: an AMI change replaces the instance)."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami))
    error_message = "ami must be an AMI id like ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "g4dn.xlarge"
}

variable "vpc_id" {
  description = "VPC the security group is created in (must contain subnet_id)."
  type        = string
}

variable "subnet_id" {
  description = "Subnet to launch the instance in."
  type        = string
}

variable "ssh_cidrs" {
  description = "CIDRs allowed to reach SSH (22), keyed by who they belong to, e.g. { alice = \"203.0.113.7/32\" }. Empty: no SSH (use SSM). Open-world CIDRs are rejected."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for cidr in values(var.ssh_cidrs) : can(cidrhost(cidr, 0))])
    error_message = "ssh_cidrs values must be valid CIDR blocks like 203.0.113.7/32; got: ${join(", ", [for cidr in values(var.ssh_cidrs) : cidr if !can(cidrhost(cidr, 0))])}."
  }

  validation {
    condition     = alltrue([for cidr in values(var.ssh_cidrs) : !can(regex("/0$", cidr))])
    error_message = "ssh_cidrs must not open SSH to the whole internet (0.0.0.0/0 or ::/0); list the specific /32 or office ranges instead."
  }
}

variable "root_volume_size" {
  description = "Root volume size in GiB (gp3, always encrypted)."
  type        = number
  default     = 100

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be between 8 and 16384 GiB."
  }
}

variable "key_name" {
  description = "EC2 key pair name for SSH. Null: no key pair."
  type        = string
  default     = null
}

variable "instance_profile_name" {
  description = "IAM instance profile name to attach. Null: none."
  type        = string
  default     = null
}

variable "stop_schedule" {
  description = "Off-hours stop: an EventBridge Scheduler cron expression (e.g. cron(0 20 * * ? *)) and its time zone. Null: no schedule."
  type = object({
    cron     = string
    timezone = optional(string, "UTC")
  })
  default = null

  validation {
    condition     = var.stop_schedule == null || can(regex("^cron\\(.+\\)$", try(var.stop_schedule.cron, "")))
    error_message = "stop_schedule.cron must be an EventBridge Scheduler cron expression like cron(0 20 * * ? *)."
  }
}
