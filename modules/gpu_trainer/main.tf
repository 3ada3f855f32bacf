locals {
  name = "${var.project}-${var.env}-${var.name}"
  tags = merge(var.tags, { project = var.project })
}

resource "aws_security_group" "this" {
  name        = local.name
  description = "GPU trainer ${local.name}: SSH from listed CIDRs only"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = local.name })

  lifecycle {
    precondition {
      condition     = var.tags["env"] == var.env
      error_message = "tags.env (${var.tags["env"]}) must equal env (${var.env})."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each = var.ssh_cidrs

  security_group_id = aws_security_group.this.id
  description       = "SSH from ${each.key}"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
  tags              = local.tags
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.this.id
  description       = "All egress (package mirrors, S3, ECR)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  tags              = local.tags
}

resource "aws_instance" "this" {
  ami                    = var.ami
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.this.id]
  key_name               = var.key_name
  iam_instance_profile   = var.instance_profile_name
  tags                   = merge(local.tags, { Name = local.name })
  # GPU types are EBS-optimized anyway; detailed (1-minute) monitoring lets an idle-GPU
  # alarm stop a forgotten trainer within minutes instead of hours.
  ebs_optimized = true
  monitoring    = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    delete_on_termination = true
    tags                  = merge(local.tags, { Name = "${local.name}-root" })
  }
}
