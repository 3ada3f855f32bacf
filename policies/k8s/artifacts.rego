# (artifacts) A pod that loads a model names it by its pinned, content-addressed URI
# (the `mlops/model-uri` annotation: s3://<bucket>/models/<sha256>/model.tar.gz, as
# `mlops artifact push` prints it). The init container checks the download against that
# sha256, so the URI pins exactly one artifact (ADR 0011).
package main

import rego.v1

k8s_model_uri_pattern := `^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([^/]+/)*models/[0-9a-f]{64}/model[.]tar[.]gz$`

k8s_loads_model if {
	some entry in k8s_containers
	entry.container.name == "unpack-model"
}

k8s_loads_model if {
	is_string(k8s_template.metadata.annotations["mlops/model-uri"])
}

k8s_model_uri := object.get(object.get(k8s_template.metadata, "annotations", {}), "mlops/model-uri", "")

deny contains k8s_finding("artifacts", msg) if {
	k8s_loads_model
	k8s_model_uri == ""
	msg := concat("", [
		k8s_template_path, ".metadata.annotations[mlops/model-uri]: missing (the pod unpacks ",
		"a model; name it by its URI, s3://<bucket>/models/<sha256>/model.tar.gz)",
	])
}

deny contains k8s_finding("artifacts", msg) if {
	k8s_loads_model
	uri := k8s_model_uri
	uri != ""
	not regex.match(k8s_model_uri_pattern, uri)
	msg := concat("", [
		k8s_template_path, ".metadata.annotations[mlops/model-uri]: \"", uri,
		"\" is not a content-addressed artifact URI (s3://<bucket>/models/<sha256>/model.tar.gz)",
	])
}
