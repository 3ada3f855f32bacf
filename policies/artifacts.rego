# (f) No fault-injected model artifact in the prod tier. `mlops train --fault ...` builds a
# deliberately defective model for demos and canary tests; its provenance says so, and
# `mlops artifact push` stores that as S3 metadata on model.tar.gz (x-amz-meta-mlops-fault).
# modules/sagemaker_endpoint reads the metadata at plan time and tags each model with it
# (artifact_fault = "none" | "error-rate=0.5" | ... | "unknown" when the object has no
# mlops provenance), so the plan carries the fact from the artifact itself, not from
# anything a PR could type into tfvars. In prod only "none" passes.
package main

import rego.v1

deny contains finding("artifacts", rc.address, msg) if {
	plan_tier == "prod"
	some rc in planned_of_type("aws_sagemaker_model")
	fault := object.get(object.get(rc.change.after, "tags", {}), "artifact_fault", "unknown")
	fault != "none"
	msg := concat("", [
		"model artifact is fault-injected (artifact_fault = ", fault, ") or has no mlops ",
		"provenance; prod serves only artifacts built by `mlops train` without --fault ",
		"and published with `mlops artifact push`",
	])
}
