"""Fidelity extensions: patches of moto's backends, installed once at server start.

Each module reproduces one documented AWS behaviour moto lacks, and says which.
Installing is idempotent; importing a module patches nothing.
"""

from __future__ import annotations

from mlops.localcloud.extensions import (
    budgets,
    cloudwatch,
    ec2,
    iam_sessions,
    s3,
    s3_policy,
    s3_versions,
    sagemaker,
    sagemaker_runtime,
    sts,
)
from mlops.localcloud.hosting import Hosting


def install(*, sagemaker_delay: float, hosting: Hosting | None = None) -> None:
    sagemaker.install(delay=sagemaker_delay, host=hosting)
    sagemaker_runtime.install()
    cloudwatch.install()
    budgets.install()
    s3.install()
    s3_policy.install()
    s3_versions.install()
    ec2.install()
    sts.install()
    iam_sessions.install()
