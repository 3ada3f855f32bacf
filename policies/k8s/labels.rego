# (labels) Every object, and every pod a workload creates, carries the labels of
# data.required_labels (env, owner, cost): cost reports and policies select by them.
# `env` must be the env whose overlay this is.
package main

import rego.v1

k8s_label_sets contains {"labels": object.get(input.metadata, "labels", {}), "path": "metadata.labels"}

k8s_label_sets contains {"labels": object.get(k8s_template.metadata, "labels", {}), "path": path} if {
	k8s_template_path != ""
	path := concat("", [k8s_template_path, ".metadata.labels"])
}

deny contains k8s_finding("labels", msg) if {
	some set in k8s_label_sets
	missing := [key | some key in data.required_labels; not k8s_non_empty(set.labels, key)]
	count(missing) > 0
	msg := concat("", [set.path, ": missing ", concat(", ", missing)])
}

deny contains k8s_finding("labels", msg) if {
	some set in k8s_label_sets
	is_string(data.context.env)
	data.context.env != ""
	value := set.labels.env
	value != data.context.env
	msg := concat("", [set.path, ".env: \"", value, "\" but this is the ", data.context.env, " overlay"])
}

k8s_non_empty(labels, key) if {
	is_string(labels[key])
	trim_space(labels[key]) != ""
}
