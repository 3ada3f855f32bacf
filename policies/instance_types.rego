# (d) Instance types must be on the allowlist of the env's tier (data.instance_types[key],
# key = data.context.allowlist, the tier's in core.envs.TIERS, else the tier; from
# policies/data/instance_types.yaml): a qa env of tier dev gets dev's list. Checked: aws_instance, aws_launch_template,
# aws_sagemaker_endpoint_configuration (production and shadow variants),
# aws_sagemaker_notebook_instance. Serverless variants have no instance type.
package main

import rego.v1

instance_type_uses contains [rc.address, rc.change.after.instance_type] if {
	some type in ["aws_instance", "aws_launch_template", "aws_sagemaker_notebook_instance"]
	some rc in planned_of_type(type)
	is_string(rc.change.after.instance_type)
}

instance_type_uses contains [rc.address, variant.instance_type] if {
	some rc in planned_of_type("aws_sagemaker_endpoint_configuration")
	some attribute in ["production_variants", "shadow_production_variants"]
	some variant in object.get(rc.change.after, attribute, [])
	is_string(variant.instance_type)
	variant.instance_type != ""
}

allowed_instance_types contains t if {
	some t in data.instance_types[allowlist_key]
}

deny contains finding("instance_types", address, msg) if {
	some [address, type] in instance_type_uses
	is_string(allowlist_key)
	not data.instance_types[allowlist_key]
	msg := concat("", [
		"instance type ", type, " cannot be checked: no allowlist \"", allowlist_key,
		"\" (tier ", plan_tier, ") in data.instance_types (policies/data/instance_types.yaml)",
	])
}

deny contains finding("instance_types", address, msg) if {
	some [address, type] in instance_type_uses
	data.instance_types[allowlist_key]
	not type in allowed_instance_types
	msg := concat("", [
		"instance type ", type, " is not allowed in ", env_text,
		" (allowed in the ", plan_tier, " tier: ",
		concat(", ", sort([t | some t in allowed_instance_types])),
		"; edit policies/data/instance_types.yaml to change)",
	])
}

# An instance type only known after apply cannot be checked: fail closed.
deny contains finding("instance_types", rc.address, msg) if {
	some type in ["aws_instance", "aws_launch_template", "aws_sagemaker_notebook_instance"]
	some rc in planned_of_type(type)
	rc.change.after_unknown.instance_type == true
	msg := "instance_type is unknown until apply, so it cannot be checked against the allowlist; set it from a variable or literal"
}

env_text := plan_env if is_string(plan_env)

else := "this env"
