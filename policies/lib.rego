# Shared helpers of the plan policies. Input: the `terraform show -json` plan document,
# exactly as written by Terraform, so `conftest test plan.json` works unchanged.
# Context that is not in the plan comes from data documents (see docs/policy.md):
#   data.context.env        the env whose plan this is (falls back to the plan's `env` variable)
#   data.context.tier       its tier, dev|staging|prod (falls back to the plan's `tier` variable)
#   data.context.protected  whether it is protected (falls back to: the tier is prod)
#   data.context.allowlist  its key in data.instance_types (falls back to the tier)
#   data.context.labels     the PR's labels, e.g. ["allow-destroy:prod"]
#   data.instance_types     the instance type allowlist per tier (policies/data/)
# `mlops policy check --env ENV` sets env, tier and protected from mlops.yaml.
# Every rule adds {"msg", "rule", "address"} objects to `deny`; conftest prints `msg`.
#
# Portability note: rego-cpp 1.5.2 (regopy, which `mlops policy check` uses) can quote a
# computed string that is formatted by sprintf() ("%s"/"%v"), and has no "%q". So strings
# are built with concat() only, and sprintf() formats numbers only ("%d").
package main

import rego.v1

plan_env := data.context.env if {
	is_string(data.context.env)
	data.context.env != ""
} else := input.variables.env.value if {
	is_string(input.variables.env.value)
}

plan_tier := data.context.tier if {
	is_string(data.context.tier)
	data.context.tier != ""
} else := input.variables.tier.value if {
	is_string(input.variables.tier.value)
}

# The tier's instance allowlist: data.instance_types[allowlist_key].
allowlist_key := data.context.allowlist if {
	is_string(data.context.allowlist)
	data.context.allowlist != ""
} else := plan_tier

# Protected envs (prod tier by default; mlops.yaml `protected:`) need the PR label
# allow-destroy:<env> to destroy stateful resources.
plan_protected := data.context.protected if {
	is_boolean(data.context.protected)
} else := true if {
	plan_tier == "prod"
} else := false

labels contains label if {
	some label in data.context.labels
}

# A finding (deny entry): `msg` leads with the resource address so conftest's output reads well.
finding(rule, address, text) := {
	"msg": concat(": ", [address, text]),
	"rule": rule,
	"address": address,
} if address != ""

else := {"msg": text, "rule": rule, "address": address}

# Managed resources that exist after the plan is applied (created, updated, unchanged,
# or replaced): their planned values are `change.after`.
planned contains rc if {
	some rc in input.resource_changes
	rc.mode == "managed"
	is_object(rc.change.after)
}

planned_of_type(type) := {rc | some rc in planned; rc.type == type}

# The module instance a resource change lives in ("" for the root module).
module_instance(rc) := object.get(rc, "module_address", "")

# The configuration address of a resource instance address: instance keys removed.
# module.a["x"].aws_s3_bucket.this[0] -> module.a.aws_s3_bucket.this
config_address(address) := regex.replace(address, `\[[^\]]*\]`, "")

# The env could not be determined: every env-dependent rule would be guessing.
deny contains finding("context", "", msg) if {
	not plan_env
	msg := concat(" ", [
		"the environment of this plan is unknown:",
		"pass --env to `mlops policy check`, or with conftest/OPA load a data file",
		"with {\"context\": {\"env\": \"<env>\"}} (see docs/policy.md)",
	])
}

# The tier could not be determined: the allowlist would be guessing.
deny contains finding("context", "", msg) if {
	not plan_tier
	msg := concat(" ", [
		"the tier of this plan is unknown:",
		"pass --env to `mlops policy check` (it reads the tier from mlops.yaml), or with",
		"conftest/OPA load a data file with {\"context\": {\"tier\": \"<dev|staging|prod>\"}}",
		"(see docs/policy.md)",
	])
}
