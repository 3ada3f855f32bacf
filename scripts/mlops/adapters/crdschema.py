"""Gateway API and Flux objects against their published schemas, with the maintained npm
packages @kubernetes-models/gateway-api and @kubernetes-models/flux-cd (pinned in
package-lock.json), run by scripts/tools/k8s-validate.mjs under Node.js (NODE, default
`node`). One process validates every object it is given."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.errors import MlopsError

SCRIPT = Path("scripts/tools/k8s-validate.mjs")
PACKAGES = ("@kubernetes-models/gateway-api", "@kubernetes-models/flux-cd")


@dataclass(frozen=True)
class CrdResult:
    status: str  # "valid", "invalid" or "unknown"
    errors: tuple[tuple[str, str], ...] = ()  # (field, message)


def validate(root: Path, objects: Sequence[Mapping[str, Any]],
             env: Mapping[str, str]) -> tuple[list[CrdResult], dict[str, str]]:
    """(one result per object, {package: version})."""
    if not objects:
        return [], {}
    missing = [p for p in PACKAGES if not (root / "node_modules" / p / "package.json").is_file()]
    if missing:
        raise MlopsError(f"the schema validators {', '.join(missing)} are not installed",
                         "`mlops k8s check` validates Gateway API and Flux objects with them",
                         "run `make setup` (npm ci of package-lock.json; needs the npm "
                         "registry once)")
    node = env.get("NODE") or "node"
    request = {"objects": [{"id": str(i), "object": dict(o)} for i, o in enumerate(objects)]}
    try:
        result = subprocess.run([node, str(root / SCRIPT)], input=json.dumps(request),
                                capture_output=True, text=True, cwd=root, timeout=120,
                                check=False)
    except FileNotFoundError as err:
        raise MlopsError(f"Node.js not found ({node})",
                         "the Gateway API and Flux validators run under Node.js",
                         "install Node.js >= 20, or set NODE to its path") from err
    if result.returncode != 0:
        raise MlopsError("the Gateway API / Flux schema validator failed",
                         result.stderr.strip()[-500:] or f"exit {result.returncode}",
                         "run `make setup` to reinstall the Node tools")
    answer = json.loads(result.stdout)
    by_id = {r["id"]: r for r in answer["results"]}
    results = []
    for i in range(len(objects)):
        entry = by_id.get(str(i), {"status": "unknown", "errors": []})
        results.append(CrdResult(entry["status"], tuple((e["field"], e["message"])
                                                        for e in entry["errors"])))
    return results, dict(answer.get("packages", {}))
