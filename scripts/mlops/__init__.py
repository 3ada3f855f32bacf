"""mlops: GitOps tooling for ML infrastructure on AWS.

Layout (functional core, imperative shell):
  core/        pure functions and dataclasses; no I/O, no environment reads
  adapters/    terraform (subprocess), aws (boto3), github (requests), git
  commands/    one module per CLI verb; reads through adapters, decides in core, acts
  localcloud/  the embedded AWS (moto server + fidelity extensions) for demo and tests
"""

__version__ = "0.1.0"
