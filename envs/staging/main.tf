# The same code in every env (tests check envs/*/main.tf are identical); envs differ
# only in terraform.tfvars (env, tier, region, sizes...) and in the state key of backend.tf.
locals {
  tags = {
    env        = var.env
    owner      = var.owner
    cost       = var.cost
    project    = var.project
    managed-by = "terraform"
  }
  # Modules merge these with their own; the provider's default_tags carry them as well.
  module_tags = { env = var.env, owner = var.owner, cost = var.cost }
}

module "artifacts" {
  source = "../../modules/ml_bucket"

  project       = var.project
  env           = var.env
  tier          = var.tier
  name          = "artifacts"
  tags          = local.module_tags
  force_destroy = var.artifacts.force_destroy
  lifecycle_rules = {
    noncurrent_to_ia_days = var.artifacts.noncurrent_to_ia_days
  }
}

module "model_images" {
  source = "../../modules/ecr_repository"

  project          = var.project
  env              = var.env
  tier             = var.tier
  name             = "model-server"
  tags             = local.module_tags
  keep_last_images = var.model_images.keep_last_images
  force_delete     = var.model_images.force_delete
}

module "sagemaker_role" {
  source = "../../modules/sagemaker_execution_role"

  project             = var.project
  env                 = var.env
  tags                = local.module_tags
  artifact_bucket_arn = module.artifacts.arn
  artifact_prefixes   = ["models/"]
  data_capture        = { prefix = "data-capture/" }
  ecr_repository_arns = [module.model_images.arn]
}

module "endpoint" {
  source = "../../modules/sagemaker_endpoint"
  count  = var.serving.enabled ? 1 : 0

  project            = var.project
  env                = var.env
  tier               = var.tier
  name               = var.serving.name
  tags               = local.module_tags
  execution_role_arn = module.sagemaker_role.arn
  releases           = var.serving.releases
  active_release     = var.serving.active_release

  data_capture = {
    enabled             = var.serving.data_capture_percentage > 0
    sampling_percentage = max(var.serving.data_capture_percentage, 1)
    destination_s3_uri  = "s3://${module.artifacts.name}/data-capture"
  }

  alarms = var.serving.alarms

  ttl = var.serving.ttl_hours == null ? null : { hours = var.serving.ttl_hours }
}

data "aws_vpc" "default" {
  count   = var.trainer.enabled && var.trainer.vpc_id == null ? 1 : 0
  default = true
}

data "aws_subnets" "default" {
  count = var.trainer.enabled && var.trainer.subnet_id == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [coalesce(var.trainer.vpc_id, one(data.aws_vpc.default[*].id))]
  }
}

module "trainer" {
  source = "../../modules/gpu_trainer"
  count  = var.trainer.enabled ? 1 : 0

  project       = var.project
  env           = var.env
  tags          = local.module_tags
  ami           = var.trainer.ami
  instance_type = var.trainer.instance_type
  ssh_cidrs     = var.trainer.ssh_cidrs
  vpc_id        = coalesce(var.trainer.vpc_id, one(data.aws_vpc.default[*].id))
  subnet_id     = coalesce(var.trainer.subnet_id, try(sort(data.aws_subnets.default[0].ids)[0], null))
  stop_schedule = var.trainer.stop_cron == null ? null : { cron = var.trainer.stop_cron }
}

module "budget" {
  source = "../../modules/cost_guardrails"

  project           = var.project
  env               = var.env
  tags              = local.module_tags
  monthly_limit_usd = var.budget.monthly_limit_usd
  notifications = length(var.budget.emails) + length(var.budget.sns_topic_arns) == 0 ? null : {
    thresholds     = var.budget.thresholds
    emails         = var.budget.emails
    sns_topic_arns = var.budget.sns_topic_arns
  }
}
