# One endpoint, one immutable EndpointConfig per release, one model per release variant.
# See README.md "Design" for how releases are retained and how rollback works.

locals {
  prefix = "${var.project}-${var.env}-${var.name}"
  tags   = merge(var.tags, { project = var.project })

  ttl_tags = var.ttl == null ? {} : merge(
    var.ttl.hours == null ? {} : { ttl_hours = tostring(var.ttl.hours) },
    var.ttl.expires_at == null ? {} : { expires_at = var.ttl.expires_at },
  )

  # Every (release, variant) pair, with resolved weights and a content hash so that a name
  # never refers to two different things: editing a released model makes a new name.
  variants = {
    for pair in flatten([
      for release, variants in var.releases : [
        for variant, spec in variants : {
          key     = "${release}/${variant}"
          release = release
          variant = variant
          spec = merge(spec, {
            initial_weight = coalesce(spec.initial_weight, variant == "canary" ? 10 : (contains(keys(variants), "canary") ? 90 : 100))
          })
        }
      ]
    ]) : pair.key => pair
  }

  model_names = {
    for key, v in local.variants : key => "${local.prefix}-${v.release}-${v.variant}-${substr(sha1(jsonencode({
      image          = v.spec.image
      model_data_url = v.spec.model_data_url
      environment    = v.spec.environment
      role           = var.execution_role_arn
    })), 0, 6)}"
  }

  config_names = {
    for release, variants in var.releases : release => "${local.prefix}-${release}-${substr(sha1(jsonencode({
      models       = [for variant in sort(keys(variants)) : local.model_names["${release}/${variant}"]]
      variants     = [for variant in sort(keys(variants)) : local.variants["${release}/${variant}"].spec]
      data_capture = var.data_capture
    })), 0, 8)}"
  }

  active_variants = sort(keys(try(var.releases[var.active_release], {})))

  # Provenance of each artifact, read from the S3 object's metadata that
  # `mlops artifact push` writes from provenance.json (x-amz-meta-mlops-*). It becomes model
  # tags, so the plan JSON carries it and the policy gate can refuse a fault-injected build
  # in prod. "unknown": the object was not pushed by mlops (no provenance).
  artifact_urls = toset([for v in local.variants : v.spec.model_data_url])
  artifact_tags = {
    for url in local.artifact_urls : url => {
      artifact_fault  = lookup(data.aws_s3_object.artifact[url].metadata, "mlops-fault", "unknown")
      artifact_sha256 = lookup(data.aws_s3_object.artifact[url].metadata, "mlops-sha256", "unknown")
    }
  }
}

# Reading the artifact at plan time also means a release cannot be planned before its
# artifact is pushed (SageMaker would fail the endpoint anyway).
data "aws_s3_object" "artifact" {
  for_each = local.artifact_urls

  bucket = regex("^s3://([^/]+)/(.+)$", each.value)[0]
  key    = regex("^s3://([^/]+)/(.+)$", each.value)[1]
}

resource "aws_sagemaker_model" "this" {
  for_each = local.variants

  name               = local.model_names[each.key]
  execution_role_arn = var.execution_role_arn
  # Inference containers get no outbound network: artifacts come from S3 through
  # SageMaker, so a compromised model cannot call out.
  enable_network_isolation = true
  tags                     = merge(local.tags, { release = each.value.release, variant = each.value.variant }, local.artifact_tags[each.value.spec.model_data_url])

  primary_container {
    image          = each.value.spec.image
    model_data_url = each.value.spec.model_data_url
    environment    = length(each.value.spec.environment) > 0 ? each.value.spec.environment : null
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = length(local.model_names[each.key]) <= 63
      error_message = "model name ${local.model_names[each.key]} is longer than 63 characters; shorten project, name or the release key."
    }
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  #checkov:skip=CKV_AWS_98:SageMaker encrypts the ML storage volume with an AWS managed key by default; a customer-managed key (and its key policy) is not offered by this module yet.
  for_each = var.releases

  name = local.config_names[each.key]
  tags = merge(local.tags, { release = each.key })

  dynamic "production_variants" {
    for_each = sort(keys(each.value))
    content {
      variant_name           = production_variants.value
      model_name             = aws_sagemaker_model.this["${each.key}/${production_variants.value}"].name
      instance_type          = local.variants["${each.key}/${production_variants.value}"].spec.instance_type
      initial_instance_count = local.variants["${each.key}/${production_variants.value}"].spec.instance_count
      initial_variant_weight = local.variants["${each.key}/${production_variants.value}"].spec.initial_weight
    }
  }

  dynamic "data_capture_config" {
    for_each = var.data_capture.enabled ? [var.data_capture] : []
    content {
      enable_capture              = true
      initial_sampling_percentage = data_capture_config.value.sampling_percentage
      destination_s3_uri          = data_capture_config.value.destination_s3_uri

      capture_options {
        capture_mode = "Input"
      }

      capture_options {
        capture_mode = "Output"
      }
    }
  }

  # A config is never modified: a content change is a new name. The new config exists
  # before the endpoint is pointed at it, and the old one goes only after.
  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = length(local.config_names[each.key]) <= 63
      error_message = "endpoint configuration name ${local.config_names[each.key]} is longer than 63 characters; shorten project, name or the release key."
    }
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = local.prefix
  endpoint_config_name = try(aws_sagemaker_endpoint_configuration.this[var.active_release].name, "") # checked below
  tags                 = merge(local.tags, local.ttl_tags, { release = var.active_release })

  lifecycle {
    precondition {
      condition     = contains(keys(var.releases), var.active_release)
      error_message = "active_release (${var.active_release}) must be one of the releases: ${join(", ", sort(keys(var.releases)))}."
    }

    precondition {
      condition     = var.tags["env"] == var.env
      error_message = "tags.env (${var.tags["env"]}) must equal env (${var.env})."
    }
  }
}
