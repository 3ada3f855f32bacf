"""`mlops env`: the environments of mlops.yaml.

  mlops env list [--json]
      The envs (name, tier, region, account, protected, after) and the promotion order.
      --json prints {"envs": [...], "waves": [[...], ...]} for workflow matrices.

  mlops env add NAME --like ENV [--region R] [--tier T] [--account A] [--after E ...]
                [--protected | --no-protected]
      Scaffold a new env: its entry in mlops.yaml (comments and layout kept) and its root
      envs/NAME/ (the shared files copied from envs/ENV/, backend.tf with its own state
      key, terraform.tfvars derived from ENV's), and its Kubernetes overlay and Flux dir
      (k8s/overlays/NAME/, k8s/clusters/NAME/: ENV's with ENV's name replaced). Defaults
      come from ENV: tier and place in the promotion order (`after`); the region defaults
      to mlops.yaml's. Nothing is written unless all of it can be.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops import ui
from mlops.adapters.terraform import Terraform, prepare
from mlops.context import env_folders, load_project
from mlops.core import envs, k8s, scaffold
from mlops.core.config import load_yaml, parse_config
from mlops.core.envs import TIERS, EnvSpec
from mlops.errors import MlopsError
from mlops.settings import CONFIG_FILE, Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "env", help="list the envs and their promotion order, or add an env",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="env_command", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="the envs and the promotion order (--json for CI)")
    listing.add_argument("--json", action="store_true",
                         help='print {"envs": [...], "waves": [...]} for workflow matrices')
    listing.set_defaults(func=run_list)

    add = sub.add_parser("add", help="scaffold an env: its mlops.yaml entry and envs/NAME/")
    add.add_argument("name", metavar="NAME", help="the new env's name, e.g. qa or prod-eu")
    add.add_argument("--like", required=True, metavar="ENV",
                     help="the env whose root and settings the new one starts from")
    add.add_argument("--region", help="AWS region (default: the top-level region)")
    add.add_argument("--tier", choices=list(TIERS), help="tier (default: --like's)")
    add.add_argument("--account", help="12-digit AWS account id (default: the default account)")
    add.add_argument("--after", nargs="*", metavar="ENV",
                     help="the envs it is promoted after (default: --like's)")
    add.add_argument("--protected", action=argparse.BooleanOptionalAction, default=None,
                     help="needs the allow-destroy label and a named reap (default: tier prod)")
    add.set_defaults(func=run_add)


def run_list(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = load_project(Settings.from_env(env))
    if args.json:
        print(json.dumps({"envs": [s.as_dict() for s in config.specs],
                          "waves": [list(w) for w in config.waves]}))
        return 0
    rows = [("ENV", "TIER", "REGION", "ACCOUNT", "PROTECTED", "AFTER")]
    rows += [(s.name, s.tier, s.region, s.account or "(default)",
              "yes" if s.protected else "no", ", ".join(s.after) or "-") for s in config.specs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print("promotion order: " + " -> ".join(" + ".join(w) for w in config.waves))
    return 0


def new_spec(args: argparse.Namespace, like: EnvSpec, default_region: str) -> EnvSpec:
    tier = args.tier or like.tier
    region = envs.check_region(args.region or default_region, "--region", "mlops env add")
    account = None
    if args.account is not None:
        account = envs.check_account(args.account, "--account", "mlops env add")
    protected = (TIERS[tier].protected_by_default if args.protected is None
                 else bool(args.protected))
    after = tuple(like.after if args.after is None else dict.fromkeys(args.after))
    return EnvSpec(name=args.name, tier=tier, region=region, account=account,
                   protected=protected, after=after)


def run_add(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = Settings.from_env(env)
    config = load_project(settings)
    name = envs.check_env_name(args.name, "mlops env add")
    root = settings.root / "envs" / name
    if name in config.envs:
        raise MlopsError(f"env {name} already exists in {CONFIG_FILE}",
                         "mlops env add creates a new env; it changes no existing one",
                         f"pick another name, or edit the {name} entry and envs/{name}/")
    if root.exists():
        raise MlopsError(f"envs/{name}/ already exists", "mlops env add never overwrites a root",
                         f"remove envs/{name}/ or pick another name")
    like = config.env(args.like)
    like_root = settings.root / "envs" / like.name
    spec = new_spec(args, like, config.region)

    # Everything is computed and checked in memory first: nothing is half-written.
    config_path = settings.root / CONFIG_FILE
    old_text = config_path.read_text()
    new_text = scaffold.add_env_entry(old_text, spec, config.region)
    new_config = parse_config(load_yaml(new_text, str(config_path)), str(config_path))
    others = [s for s in new_config.specs if s.name != name]
    if new_config.env(name) != spec or others != list(config.specs):
        raise MlopsError(f"the edited {CONFIG_FILE} does not read back as intended",
                         "mlops env add checks its own edit before writing it",
                         f"add the entry by hand: {name}: "
                         f"{json.dumps(scaffold.entry(spec, config.region))}")
    files: dict[str, str | Path] = {}
    for shared in scaffold.SHARED_FILES:
        source = like_root / shared
        if source.is_file():
            files[shared] = source
        elif shared != ".terraform.lock.hcl":
            raise MlopsError(f"envs/{like.name}/{shared} is missing",
                             "a new root is a copy of the --like env's shared files",
                             f"restore envs/{like.name}/{shared}, or pick another --like env")
    files["backend.tf"] = scaffold.backend((like_root / "backend.tf").read_text(), like.name, name)
    tfvars = scaffold.tfvars((like_root / "terraform.tfvars").read_text(), like, spec,
                             config.project)
    files["terraform.tfvars"] = tfvars.text

    manifests = k8s_scaffold(settings.root, like, spec)
    write_root(root, files, env, settings)
    try:
        written = write_k8s(settings.root, manifests.files)
        replace_file(config_path, new_text)
    except OSError as err:
        shutil.rmtree(root, ignore_errors=True)
        for directory in {settings.root / "k8s" / p.rsplit("/", 1)[0] for p in manifests.files}:
            shutil.rmtree(directory, ignore_errors=True)
        raise MlopsError(f"could not write {config_path} or k8s/", str(err),
                         "check the files' permissions; nothing was changed") from err
    envs.check_env_folders(new_config.envs, env_folders(settings))

    ui.step(f"added env {name} (tier {spec.tier}, region {spec.region}, "
            f"account {spec.account or 'the default account'}) like {like.name}")
    ui.info(f"{CONFIG_FILE}: {name}: {json.dumps(scaffold.entry(spec, config.region))}")
    ui.info(f"envs/{name}/: {', '.join(sorted(files))}")
    for note in tfvars.notes:
        ui.info(f"review envs/{name}/terraform.tfvars: {note}")
    if written:
        ui.info(f"k8s/: {', '.join(written)} (from {like.name}'s)")
        for note in manifests.notes:
            ui.info(f"review {note}")
    where = f"account {spec.account}" if spec.account else "its account"
    ui.info(f"next: `mlops bootstrap` with credentials of {where} (roles for {name}), "
            f"then `mlops plan --env {name}`")
    print(json.dumps(spec.as_dict()))
    return 0


def k8s_scaffold(repo: Path, like: EnvSpec, new: EnvSpec) -> k8s.Scaffold:
    """The new env's Kubernetes overlay and Flux dir, from --like's (none when the
    repository has no k8s/ for it). Refuses to overwrite anything."""
    sources: dict[str, str] = {}
    for kind in (k8s.OVERLAYS, k8s.CLUSTERS):
        source = repo / "k8s" / kind / like.name
        if not source.is_dir():
            continue
        if (repo / "k8s" / kind / new.name).exists():
            raise MlopsError(f"k8s/{kind}/{new.name}/ already exists",
                             "mlops env add never overwrites manifests",
                             f"remove k8s/{kind}/{new.name}/ or pick another name")
        for path in sorted(source.iterdir()):
            if path.is_file():
                sources[f"{kind}/{like.name}/{path.name}"] = path.read_text()
    return k8s.scaffold_env(sources, like.name, new.name, like.region, new.region)


def write_k8s(repo: Path, files: Mapping[str, str]) -> list[str]:
    """Write the scaffolded manifests; the directories they create, for the summary."""
    dirs: list[str] = []
    for path, text in files.items():
        target = repo / "k8s" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if f"k8s/{path.rsplit('/', 1)[0]}/" not in dirs:
            dirs.append(f"k8s/{path.rsplit('/', 1)[0]}/")
    return dirs


def write_root(root: Path, files: Mapping[str, str | Path], env: Mapping[str, str],
               settings: Settings) -> None:
    """Write the root into a temporary folder beside it, `terraform fmt` it, then move it
    into place in one rename: a failure leaves no partial envs/<name>/."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        for name, content in files.items():
            if isinstance(content, Path):
                shutil.copyfile(content, tmp / name)
            else:
                (tmp / name).write_text(content)
        Terraform(workdir=tmp, env=prepare(settings, env)).run(["fmt", "-list=false"])
        tmp.chmod(0o755)
        os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
