"""`kubectl kustomize`: the one way manifests are rendered (kustomize 5, built into kubectl).

The binary is `kubectl` on PATH unless KUBECTL names another. Nothing here talks to a
cluster: rendering reads the kustomization directory only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlops.errors import MlopsError

DEFAULT = "kubectl"


class Kubectl:
    def __init__(self, env: Mapping[str, str], timeout: float = 120) -> None:
        self.binary = env.get("KUBECTL") or DEFAULT
        self.timeout = timeout

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([self.binary, *args], capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except FileNotFoundError as err:
            raise MlopsError(
                f"kubectl not found ({self.binary})",
                "mlops renders the Kubernetes manifests with `kubectl kustomize` (kustomize 5)",
                "install kubectl >= 1.27 (https://kubernetes.io/docs/tasks/tools/), or set "
                "KUBECTL to its path") from err
        except subprocess.TimeoutExpired as err:
            raise MlopsError(f"`{self.binary} {' '.join(args)}` did not finish in "
                             f"{self.timeout:.0f}s", "", "check the kustomization for remote "
                             "resources (this repository uses none)") from err

    def kustomize(self, directory: Path) -> str:
        """The rendered YAML stream of a kustomization directory."""
        result = self._run("kustomize", str(directory))
        if result.returncode != 0:
            message = result.stderr.strip().splitlines()
            raise MlopsError(f"`kubectl kustomize {directory}` failed",
                             message[-1] if message else f"exit {result.returncode}",
                             "fix the kustomization (a patch that no longer matches, a "
                             "missing file, a failed `test` operation)")
        return result.stdout

    def version(self) -> str:
        """`kubectl version --client` (client and kustomize versions), for reports."""
        result = self._run("version", "--client")
        return " ".join(result.stdout.split()) if result.returncode == 0 else "unknown"
