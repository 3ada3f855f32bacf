# (latest) No image by `latest` or without a tag: it changes under a running Deployment
# and makes a rollback redeploy something else. Pin a digest or an immutable tag.
package main

import rego.v1

deny contains k8s_finding("latest", msg) if {
	some entry in k8s_containers
	image := entry.container.image
	not k8s_has_digest(image)
	k8s_tag(image) in {"", "latest"}
	msg := concat("", [
		entry.path, ".image: ", image, " is not pinned (`latest` or no tag); use a digest ",
		"(@sha256:...) or an immutable tag",
	])
}
