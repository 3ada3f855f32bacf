# (registries) Images come only from the registries in data.registries, pinned as each
# requires: a registry whose tags are mutable must be referenced by digest. Edit
# policies/k8s/data/registries.yaml to allow another one (a security review).
package main

import rego.v1

k8s_registry(image) := entry if {
	some entry in data.registries
	regex.match(entry.repository, k8s_repository(image))
}

deny contains k8s_finding("registries", msg) if {
	some entry in k8s_containers
	not k8s_registry(entry.container.image)
	allowed := [r.name | some r in data.registries]
	msg := concat("", [
		entry.path, ".image: ", entry.container.image, " is not from an allowed registry (",
		concat(", ", allowed), "; see policies/k8s/data/registries.yaml)",
	])
}

deny contains k8s_finding("registries", msg) if {
	some entry in k8s_containers
	registry := k8s_registry(entry.container.image)
	not registry.immutable_tags
	not k8s_has_digest(entry.container.image)
	msg := concat("", [
		entry.path, ".image: ", entry.container.image, " must be pinned by digest: tags in ",
		registry.name, " can be moved (append @sha256:<digest>)",
	])
}
