"""Terraform as a subprocess. The only place that runs the terraform binary."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from mlops.core import plantext, statelock, toolchain
from mlops.errors import MlopsError
from mlops.settings import Settings


class TerraformError(MlopsError):
    """terraform exited non-zero."""


class StateLocked(TerraformError):
    """terraform could not take the state lock within its lock timeout."""

    exit_code = 8

    def __init__(self, what: str, why: str, fix: str, lock_id: str) -> None:
        super().__init__(what, why, fix)
        self.lock_id = lock_id


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


VERSION_CACHE = "terraform-version.json"


def _version(binary: str, env: Mapping[str, str], cache: Path) -> tuple[int, int, int]:
    """`terraform version -json` of `binary`, remembered for that very file (path, size,
    modification time): starting Terraform just to ask costs every command ~70 ms."""
    try:
        real = Path(binary).resolve()
        info = real.stat()
        key = f"{real}:{info.st_size}:{info.st_mtime_ns}"
    except OSError:
        key = ""
    try:
        data = json.loads(cache.read_text())
        found = tuple(int(n) for n in data["version"])
        if key and data.get("key") == key and len(found) == 3:
            return found[0], found[1], found[2]
    except (OSError, ValueError, TypeError, KeyError):
        pass
    out = subprocess.run(
        [binary, "version", "-json"], capture_output=True, text=True, check=False,
        env={**env, "TF_CLI_CONFIG_FILE": "/dev/null"},
    )
    try:
        version = toolchain.parse_version(out.stdout)
    except (ValueError, json.JSONDecodeError) as err:
        raise MlopsError(f"could not read the version of {binary}", str(err),
                         "check that TERRAFORM points at a terraform binary") from err
    if key:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": key, "version": list(version)}))
            tmp.replace(cache)
        except OSError:
            pass  # a cache: the next command asks again
    return version


def prepare(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """Check the toolchain and write mlops' own Terraform CLI config.

    Returns the environment terraform must run with. Idempotent and cheap.
    """
    binary = shutil.which(settings.terraform, path=env.get("PATH"))
    if binary is None:
        raise MlopsError(
            f"terraform not found (looked for {settings.terraform!r} on PATH)",
            f"mlops drives Terraform >= {'.'.join(map(str, toolchain.MIN_TERRAFORM))}",
            "install it from https://developer.hashicorp.com/terraform/install "
            "or set TERRAFORM to its path",
        )
    version = _version(binary, env, settings.state_dir / VERSION_CACHE)
    if not toolchain.version_ok(version):
        raise MlopsError(
            f"terraform {'.'.join(map(str, version))} at {binary} is too old",
            f"mlops needs >= {'.'.join(map(str, toolchain.MIN_TERRAFORM))} "
            "(S3 native locking, `optional()` attributes, plan JSON fields)",
            "upgrade terraform, or set TERRAFORM to a newer binary",
        )
    settings.plugin_cache.mkdir(parents=True, exist_ok=True)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    rc_path = settings.state_dir / "terraformrc"
    text = toolchain.render_cli_config(settings.mirror, settings.plugin_cache)
    if not rc_path.exists() or rc_path.read_text() != text:
        tmp = rc_path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(rc_path)
    return {
        **env,
        "TERRAFORM": binary,
        "TF_CLI_CONFIG_FILE": str(rc_path),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "GOGC": env.get("GOGC") or toolchain.TERRAFORM_GOGC,
    }


@dataclass
class Terraform:
    """One terraform working directory."""

    workdir: Path
    env: Mapping[str, str]
    label: str = ""
    # Where streamed output goes: sys.stderr as it is when this Terraform is made (so a
    # redirected stderr, e.g. the demo's step log, gets it).
    out: TextIO = field(default_factory=lambda: sys.stderr)
    # Applied to every line echoed and to error text: sensitive values never reach a log.
    mask: Callable[[str], str] = field(default=lambda text: text)

    @property
    def binary(self) -> str:
        return self.env.get("TERRAFORM", "terraform")

    def run(self, args: Sequence[str], *, stream: bool = False, check: bool = True) -> Result:
        """Run terraform. With stream=True each output line is echoed (prefixed with the
        label) as it arrives, so long operations show progress."""
        cmd = [self.binary, f"-chdir={self.workdir}", *args]
        if not stream:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(self.env),
                                  check=False)
            result = Result(proc.returncode, proc.stdout, proc.stderr)
        else:
            lines: list[str] = []
            with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, env=dict(self.env)) as live:
                assert live.stdout is not None
                for line in live.stdout:
                    lines.append(line)
                    prefix = f"[{self.label}] " if self.label else ""
                    self.out.write(prefix + self.mask(line))
                    self.out.flush()
            result = Result(live.returncode, "".join(lines), "".join(lines))
        if check and result.returncode != 0:
            raise _failure(f"`terraform {' '.join(args[:1])}` failed in {self.workdir} "
                           f"(exit {result.returncode})",
                           self.mask(result.stderr or result.stdout), self.label)
        return result

    @property
    def data_dir(self) -> Path:
        return Path(self.env.get("TF_DATA_DIR") or self.workdir / ".terraform")

    def init(self, backend_config: Mapping[str, str] | None = None, *,
             backend: bool = True, stream: bool = False, reuse: bool = True) -> Result | None:
        """terraform init. With reuse, skipped (returns None) when this data dir was
        initialised with the same inputs: an init that cannot change anything still costs
        a provider start and a backend round trip."""
        # -reconfigure: mlops never migrates state implicitly; the backend settings it
        # passes are the truth for this run (a data dir may remember another cloud's).
        args = ["init", "-no-color", "-input=false", "-reconfigure"]
        if not backend:
            args.append("-backend=false")
        for key, value in (backend_config or {}).items():
            args.append(f"-backend-config={key}={value}")
        stamp_file = self.data_dir / "mlops-init.stamp"
        if reuse and stamp_file.is_file() and stamp_file.read_text() == self._init_stamp(args):
            return None
        stamp_file.unlink(missing_ok=True)
        result = self.run(args, stream=stream)
        stamp_file.parent.mkdir(parents=True, exist_ok=True)
        stamp_file.write_text(self._init_stamp(args))
        return result

    def _init_stamp(self, args: Sequence[str]) -> str:
        """A hash of everything an init depends on: its arguments, the CLI config, the
        binary, the endpoint, the dependency lock file (.terraform.lock.hcl: a changed
        provider hash or version must re-init), and the .tf files of the root and of every
        module the last init installed (.terraform/modules/modules.json)."""
        digest = hashlib.sha256()
        cli_config = Path(self.env.get("TF_CLI_CONFIG_FILE", "/nonexistent"))
        for part in (*args, self.binary, self.env.get("AWS_ENDPOINT_URL", ""),
                     cli_config.read_text() if cli_config.is_file() else ""):
            digest.update(part.encode() + b"\0")
        dirs = [self.workdir]
        manifest = self.data_dir / "modules" / "modules.json"
        if manifest.is_file():
            for module in json.loads(manifest.read_text()).get("Modules", []):
                if module.get("Dir"):
                    dirs.append((self.workdir / module["Dir"]).resolve())
        digest.update(b"lock\0" + (lock_file(self.workdir) or b"(none)") + b"\0")
        for directory in sorted(set(dirs)):
            for path in sorted(directory.glob("*.tf*")):
                if path.is_file() and not path.name.endswith(".tfstate"):
                    digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def plan(self, out: Path, var_files: Sequence[Path] = (), *, destroy: bool = False,
             variables: Mapping[str, str] | None = None, stream: bool = False) -> int:
        """Returns 0 (no changes) or 2 (changes) like -detailed-exitcode."""
        return self.plan_with_text(out, var_files, destroy=destroy, variables=variables,
                                   stream=stream)[0]

    def plan_with_text(self, out: Path, var_files: Sequence[Path] = (), *,
                       destroy: bool = False, variables: Mapping[str, str] | None = None,
                       stream: bool = False, lock_timeout: str | None = None
                       ) -> tuple[int, str]:
        """Plan into `out`; returns (0 no changes | 2 changes, the text plan, unmasked).
        The text comes from plan's own output, which saves a `terraform show` run."""
        args = ["plan", "-no-color", "-input=false", "-detailed-exitcode",
                f"-out={out.resolve()}"]
        if destroy:
            args.append("-destroy")
        if lock_timeout:
            args.append(f"-lock-timeout={lock_timeout}")
        args += _var_args(var_files, variables)
        result = self.run(args, stream=stream, check=False)
        if result.returncode not in (0, 2):
            raise _failure(f"terraform plan failed in {self.workdir} (exit {result.returncode})",
                           self.mask(result.stderr or result.stdout), self.label)
        return result.returncode, plantext.from_plan_stdout(result.stdout)

    def show_json(self, plan: Path | None = None) -> dict[str, Any]:
        args = ["show", "-json"] + ([str(plan.resolve())] if plan else [])
        data: dict[str, Any] = json.loads(self.run(args).stdout)
        return data

    def show_text(self, plan: Path) -> str:
        return self.run(["show", "-no-color", str(plan.resolve())]).stdout

    def apply(self, plan: Path | None = None, var_files: Sequence[Path] = (), *,
              variables: Mapping[str, str] | None = None, stream: bool = True,
              lock_timeout: str | None = None) -> Result:
        """Apply a saved plan (exactly what was reviewed), or plan-and-apply without one."""
        args = ["apply", "-no-color", "-input=false"]
        if lock_timeout:
            args.append(f"-lock-timeout={lock_timeout}")
        if plan is not None:
            args.append(str(plan.resolve()))  # -chdir: relative paths would not resolve
        else:
            args.append("-auto-approve")
            args += _var_args(var_files, variables)
        return self.run(args, stream=stream)

    def destroy(self, var_files: Sequence[Path] = (), *,
                variables: Mapping[str, str] | None = None, stream: bool = True,
                lock_timeout: str | None = None) -> Result:
        args = ["destroy", "-no-color", "-input=false", "-auto-approve"]
        if lock_timeout:
            args.append(f"-lock-timeout={lock_timeout}")
        args += _var_args(var_files, variables)
        return self.run(args, stream=stream)

    def outputs(self) -> dict[str, Any]:
        raw: dict[str, Any] = json.loads(self.run(["output", "-json"]).stdout)
        return raw

    def output_values(self) -> dict[str, Any]:
        """name -> value for printing: sensitive outputs are "(sensitive)", never shown."""
        return {name: "(sensitive)" if out.get("sensitive") else out.get("value")
                for name, out in self.outputs().items()}


def lock_file(root: Path) -> bytes | None:
    """A root's dependency lock file (.terraform.lock.hcl), or None without one."""
    lock = root / ".terraform.lock.hcl"
    return lock.read_bytes() if lock.is_file() else None


def providers_cached(lock: bytes | None, plugin_cache: Path) -> bool:
    """Whether the shared plugin cache already holds every provider a lock file pins, for
    this machine's platform (an entry holding the provider's executable): an init with that
    lock file then only reads the cache. False without a lock file (init picks versions,
    and may write) or on an unknown platform."""
    target = _platform()
    if lock is None or target is None:
        return False
    entries = toolchain.cache_entries(plugin_cache, lock.decode("utf-8", "replace"), target)
    return bool(entries) and all(
        any(f.name.startswith("terraform-provider-") and os.access(f, os.X_OK)
            for f in (entry.iterdir() if entry.is_dir() else ()))
        for entry in entries)


def _platform() -> str | None:
    """Terraform's name for this machine's platform (GOOS_GOARCH), e.g. linux_amd64."""
    import platform

    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower())
    system = platform.system().lower()
    return f"{system}_{arch}" if arch and system in ("linux", "darwin") else None


def fmt_text(text: str, env: Mapping[str, str], name: str = "terraform.tfvars") -> str:
    """`text` as `terraform fmt` writes it (`terraform fmt -`: stdin to stdout). Refuses
    text Terraform cannot parse, naming the file it was meant for."""
    binary = env.get("TERRAFORM", "terraform")
    try:
        proc = subprocess.run([binary, "fmt", "-no-color", "-"], input=text, text=True,
                              capture_output=True, check=False,
                              env={**env, "TF_CLI_CONFIG_FILE": "/dev/null"})
    except FileNotFoundError as err:
        raise MlopsError(f"terraform not found (looked for {binary!r})",
                         f"mlops formats {name} with `terraform fmt`",
                         "install terraform or set TERRAFORM to its path") from err
    if proc.returncode != 0:
        raise TerraformError(f"`terraform fmt` refused the edited {name}",
                             _tail(proc.stderr or proc.stdout),
                             "this is a bug in mlops' editor if the file was valid before: "
                             "report it with the file")
    return proc.stdout


def _var_args(var_files: Sequence[Path], variables: Mapping[str, str] | None) -> list[str]:
    args = [f"-var-file={Path(f).resolve()}" for f in var_files]
    args += [f"-var={key}={value}" for key, value in (variables or {}).items()]
    return args


def _failure(what: str, output: str, env: str = "") -> TerraformError:
    """The error for a failed terraform run. A state lock held by another run is not a
    configuration problem: say who holds it since when, and how to release a lock whose
    run died (StateLocked, exit 8)."""
    if "Error acquiring the state lock" not in output:
        return TerraformError(what, _tail(output), "read the Terraform error above; fix the "
                              "configuration or inputs and re-run")
    lock = statelock.parse_lock_info_text(output)
    lock_id = lock.id if lock else "LOCK_ID"
    path = re.search(r"^\s*Path:\s*(\S+)", output, re.MULTILINE)
    where = f"s3://{path.group(1)}.tflock" if path else "<state key>.tflock"
    if lock is not None and env:
        held_what, why, fix = statelock.held_message(env, lock, datetime.now(UTC))
        return StateLocked(f"{what}: {held_what}", why,
                           fix + f" (or `terraform force-unlock {lock_id}` in the root)", lock_id)
    unlock = (f"`mlops unlock --env {env} --lock-id {lock_id}`, or " if env else "")
    return StateLocked(
        f"{what}: the state is locked by another run",
        _tail(output),
        "wait for that run (Lock Info above) to finish, then re-run. Only if it died, release "
        f"its lock: {unlock}`terraform force-unlock {lock_id}` in the root, or delete the lock "
        f"object {where}", lock_id)


def _tail(text: str, lines: int = 25) -> str:
    """The last lines of terraform's output: where its error message is."""
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])
