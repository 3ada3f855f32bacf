# (e) No destroy or replacement of a stateful resource in a protected env (the prod tier
# by default; `protected:` in mlops.yaml) unless the PR carries the label allow-destroy:<env>. A replacement ("delete" then "create",
# or create_before_destroy's "create" then "delete") loses the data just the same.
package main

import rego.v1

# Resource types whose destruction loses data or identity that cannot be recreated.
stateful_types := {
	"aws_s3_bucket",
	"aws_dynamodb_table",
	"aws_sagemaker_endpoint",
	"aws_sagemaker_feature_group",
	"aws_sagemaker_model_package_group",
	"aws_sagemaker_domain",
	"aws_ecr_repository",
	"aws_db_instance",
	"aws_rds_cluster",
	"aws_rds_cluster_instance",
	"aws_efs_file_system",
	"aws_fsx_lustre_file_system",
	"aws_ebs_volume",
	"aws_elasticache_replication_group",
	"aws_elasticache_cluster",
	"aws_opensearch_domain",
	"aws_kms_key",
	"aws_secretsmanager_secret",
	"aws_backup_vault",
	"aws_kinesis_stream",
	"aws_sqs_queue",
}

override_label := concat("", ["allow-destroy:", plan_env])

what_happens(actions) := "destroyed" if {
	actions == ["delete"]
} else := "replaced"

deny contains finding("destroy", rc.address, msg) if {
	plan_protected
	not override_label in labels
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.type in stateful_types
	"delete" in rc.change.actions
	reason := object.get(rc, "action_reason", "")
	msg := concat("", [
		"stateful ", rc.type, " would be ", what_happens(rc.change.actions), " in ", plan_env,
		reason_text(reason), "; if that is intended, add the PR label ", override_label,
	])
}

reason_text(reason) := concat("", [" (", reason, ")"]) if reason != ""

else := ""
