# (c) Every S3 bucket has server-side encryption, versioning Enabled and a public access
# block with all four flags true, each as its own resource (AWS provider v4+ style).
#
# Matching a companion resource (e.g. aws_s3_bucket_versioning) to its bucket. At plan
# time a new bucket's id is unknown, so `after.bucket` of the companion is unknown too;
# we therefore match, in order of preference:
#   1. known values: companion bucket == the bucket's known name or id;
#   2. configuration references: the companion's `bucket` expression references
#      aws_s3_bucket.<name> (configuration.root_module...module_calls...resources[]),
#      and both live in the same module instance; with count/for_each the instance keys
#      must agree unless the reference names the instance (aws_s3_bucket.x[0]);
#      for_each = aws_s3_bucket.x with bucket = each.value.id pairs instances by key;
#   3. module instance: the reference is indirect (var.bucket_id, a local), the
#      companion sits in the same module instance with the same instance key, and that
#      module declares exactly one aws_s3_bucket resource.
package main

import rego.v1

# Every resource block of the configuration, keyed by its configuration address
# (module path without instance keys + local address).
config_resources[address] := resource if {
	walk(input.configuration.root_module, [path, resource])
	count(path) >= 2
	path[count(path) - 2] == "resources"
	is_number(path[count(path) - 1])
	is_string(resource.mode) # a resource block, not an attribute that happens to be a list
	# rego-cpp reads `some i, x in` inside [...] as array items: index explicitly.
	names := [concat("", ["module.", path[i + 1]]) |
		path[i] == "module_calls"
		i % 3 == 0
	]
	address := concat(".", array.concat(names, [resource.address]))
}

# The configuration module path of a resource change ("" at the root).
config_module(rc) := config_address(module_instance(rc))

qualify(module, local) := local if module == ""

else := concat(".", [module, local])

bucket_references(rc) := refs if {
	refs := config_resources[config_address(rc.address)].expressions.bucket.references
} else := []

bucket_refs_of(rc) := [ref | some ref in bucket_references(rc); startswith(ref, "aws_s3_bucket.")]

index_of(rc) := object.get(rc, "index", null)

# 1. known values
companion_of(c, b) if {
	name := c.change.after.bucket
	is_string(name)
	some attribute in ["bucket", "id"]
	name == b.change.after[attribute]
}

# 2a. reference that names the bucket instance: aws_s3_bucket.x or aws_s3_bucket.x[0]
companion_of(c, b) if {
	module_instance(c) == module_instance(b)
	some ref in bucket_refs_of(c)
	instance := regex.replace(ref, `^(aws_s3_bucket\.[^.\[]+(\[[^\]]*\])?).*$`, "$1")
	qualify(module_instance(c), instance) == b.address
}

# 2b. reference to the bucket block, instance chosen by a shared key (bucket[each.key])
companion_of(c, b) if {
	module_instance(c) == module_instance(b)
	index_of(c) == index_of(b)
	some ref in bucket_refs_of(c)
	block := regex.replace(ref, `^(aws_s3_bucket\.[^.\[]+).*$`, "$1")
	qualify(config_module(c), block) == config_address(b.address)
}

# 2c. for_each over the buckets: for_each = aws_s3_bucket.x, bucket = each.value.id
companion_of(c, b) if {
	module_instance(c) == module_instance(b)
	index_of(c) == index_of(b)
	some value_ref in bucket_references(c)
	startswith(value_ref, "each.value")
	some ref in config_resources[config_address(c.address)].for_each_expression.references
	startswith(ref, "aws_s3_bucket.")
	block := regex.replace(ref, `^(aws_s3_bucket\.[^.\[]+).*$`, "$1")
	qualify(config_module(c), block) == config_address(b.address)
}

# 3. indirect reference, one bucket block in the module
companion_of(c, b) if {
	count(bucket_refs_of(c)) == 0
	module_instance(c) == module_instance(b)
	index_of(c) == index_of(b)
	buckets_in_module := [a |
		r := config_resources[a]
		r.mode == "managed"
		r.type == "aws_s3_bucket"
		parent_module(a) == config_module(b)
	]
	count(buckets_in_module) == 1
}

# module.a.module.b.aws_s3_bucket.this -> module.a.module.b
parent_module(address) := concat(".", array.slice(parts, 0, count(parts) - 2)) if {
	parts := split(address, ".")
}

companions(b, type) := [c | some c in planned_of_type(type); companion_of(c, b)]

public_access_flags := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

deny contains finding("s3", b.address, msg) if {
	some b in planned_of_type("aws_s3_bucket")
	count(companions(b, "aws_s3_bucket_server_side_encryption_configuration")) == 0
	msg := "no server-side encryption: add an aws_s3_bucket_server_side_encryption_configuration for this bucket"
}

deny contains finding("s3", b.address, msg) if {
	some b in planned_of_type("aws_s3_bucket")
	enabled := [c |
		some c in companions(b, "aws_s3_bucket_versioning")
		some v in c.change.after.versioning_configuration
		v.status == "Enabled"
	]
	count(enabled) == 0
	msg := versioning_msg(companions(b, "aws_s3_bucket_versioning"))
}

versioning_msg(found) := "versioning is not enabled: add an aws_s3_bucket_versioning with versioning_configuration { status = \"Enabled\" }" if {
	count(found) == 0
} else := concat("", [
	"versioning is not enabled: ", found[0].address, " has status ",
	concat(", ", [object.get(v, "status", "unset") | some v in found[0].change.after.versioning_configuration]),
	", need \"Enabled\"",
])

deny contains finding("s3", b.address, msg) if {
	some b in planned_of_type("aws_s3_bucket")
	count(companions(b, "aws_s3_bucket_public_access_block")) == 0
	msg := concat("", [
		"no public access block: add an aws_s3_bucket_public_access_block with ",
		concat(", ", public_access_flags), " = true",
	])
}

deny contains finding("s3", b.address, msg) if {
	some b in planned_of_type("aws_s3_bucket")
	some c in companions(b, "aws_s3_bucket_public_access_block")
	off := [f | some f in public_access_flags; object.get(c.change.after, f, false) != true]
	count(off) > 0
	msg := concat("", ["public access block ", c.address, " does not set ", concat(", ", off), " = true"])
}
