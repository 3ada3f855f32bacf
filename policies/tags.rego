# (a) Every taggable resource carries the env, owner and cost tags.
#
# Taggable = the resource type has a `tags_all` attribute (provider default_tags are
# merged into it). We read `tags_all` from the planned values. When `tags_all` is unknown
# at plan time (e.g. one tag value comes from another resource's computed attribute) we
# fall back to the resource's `tags` plus the keys the provider's default_tags add to the
# other resources of this plan. A tag whose value is only known after apply counts as
# present (it appears in `after_unknown`, not in `after`). An empty value is missing.
package main

import rego.v1

required_tags := ["cost", "env", "owner"]

taggable(rc) if "tags_all" in object.keys(rc.change.after)

taggable(rc) if "tags_all" in object.keys(object.get(rc.change, "after_unknown", {}))

tags_all_known(change) if is_object(change.after.tags_all)

non_empty(value) if {
	is_string(value)
	trim_space(value) != ""
}

# Keys of `attribute` whose values are only known after apply.
unknown_keys(change, attribute) := {key |
	unknown := object.get(object.get(change, "after_unknown", {}), attribute, {})
	is_object(unknown)
	unknown[key] == true
}

# Tag keys the provider's default_tags add, seen on resources whose tags_all is known:
# the keys of tags_all that the resource's own tags do not set. Keyed by provider name
# (resource_changes do not name provider aliases).
default_tag_keys contains [rc.provider_name, key] if {
	some rc in planned
	tags_all_known(rc.change)
	some key in object.keys(rc.change.after.tags_all)
	not key in own_tag_keys(rc.change)
}

own_tag_keys(change) := object.keys(change.after.tags) if is_object(change.after.tags)

else := set()

present(rc, key) if {
	tags_all_known(rc.change)
	non_empty(rc.change.after.tags_all[key])
}

present(rc, key) if {
	tags_all_known(rc.change)
	key in unknown_keys(rc.change, "tags_all")
}

# tags_all unknown until apply: its own tags plus the provider's default tags.
present(rc, key) if {
	not tags_all_known(rc.change)
	non_empty(rc.change.after.tags[key])
}

present(rc, key) if {
	not tags_all_known(rc.change)
	key in unknown_keys(rc.change, "tags")
}

present(rc, key) if {
	not tags_all_known(rc.change)
	[rc.provider_name, key] in default_tag_keys
}

checked_text(change) := "checked tags_all" if tags_all_known(change)

else := "tags_all is unknown until apply; checked tags and the provider's default_tags"

known_tags(change) := change.after.tags_all if tags_all_known(change)

else := change.after.tags if is_object(change.after.tags)

else := {}

deny contains finding("tags", rc.address, msg) if {
	some rc in planned
	taggable(rc)
	missing := [key | some key in required_tags; not present(rc, key)]
	count(missing) > 0
	msg := concat("", [
		"missing required tags: ", concat(", ", missing),
		" (", checked_text(rc.change),
		"; set them in the provider's default_tags or the resource's tags)",
	])
}

# A resource tagged for another env in this env's plan mis-attributes its cost.
deny contains finding("tags", rc.address, msg) if {
	some rc in planned
	taggable(rc)
	env_tag := known_tags(rc.change).env
	is_string(plan_env)
	env_tag != plan_env
	msg := concat("", ["tag env = \"", env_tag, "\" but this is the ", plan_env, " plan"])
}
