#!/usr/bin/env python3
"""Materialize kubeadm-like node trees (tests/testbed/trees/<role>.yml) into a directory.

Used by the demo (`make demo` builds .demo/nodes/<node>) and by the test bed (one tree per node, bind-mounted
into the node's private mount namespace). Git keeps only 644/755 modes, so the real modes and owners live
in the tree files and are applied here. Owners are applied only when running as root.

    python tests/testbed/nodetree.py DEST_DIR ROLE:PROFILE [--node NAME] [--force]
    python tests/testbed/nodetree.py demo INVENTORY DEST_DIR   # one tree per host with `kubesec_demo_tree`
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
from pathlib import Path

import yaml

TREES = Path(__file__).resolve().parent / "trees"


class TreeError(ValueError):
    """A tree spec is wrong (names the spec and profile)."""


def load_role(role: str) -> dict:
    path = TREES / f"{role}.yml"
    if not path.is_file():
        raise TreeError(f"no node tree file {path} (roles: {', '.join(p.stem for p in TREES.glob('*.yml'))})")
    with path.open() as handle:
        return yaml.safe_load(handle) or {}


def resolve(ref: str, _seen: tuple = ()) -> dict:
    """'role:profile' -> {'mounts', 'dirs', 'files'} with `extends` and `from` applied."""
    if ref in _seen:
        raise TreeError(f"node tree profiles extend in a loop: {' -> '.join((*_seen, ref))}")
    role, _, profile = ref.partition(":")
    specs = load_role(role)
    if profile not in specs:
        raise TreeError(f"node tree {role}.yml has no profile {profile!r} (has: {', '.join(specs)})")
    spec = specs[profile]
    base = {"mounts": [], "dirs": {}, "files": {}}
    if spec.get("extends"):
        parent = spec["extends"] if ":" in spec["extends"] else f"{role}:{spec['extends']}"
        base = copy.deepcopy(resolve(parent, (*_seen, ref)))
    base["mounts"] = spec.get("mounts") or base["mounts"]
    base["dirs"].update(spec.get("dirs") or {})
    for path, entry in (spec.get("files") or {}).items():
        entry = dict(entry or {})
        if "from" in entry:
            source = resolve(entry.pop("from"), (*_seen, ref))["files"].get(path)
            if source is None:
                raise TreeError(f"{ref}: file {path} takes 'from' a profile that lacks it")
            entry = {**source, **entry}
        base["files"][path] = {**base["files"].get(path, {}), **entry}
    return base


def _owner(spec_owner: str | None) -> tuple[int, int]:
    if not spec_owner:
        return 0, 0
    user, _, group = str(spec_owner).partition(":")
    return int(user), int(group or user)


def materialize(dest: Path, ref: str, node: str = "node", force: bool = False) -> dict:
    """Write the tree; returns the resolved spec. Refuses to overwrite a non-empty dest unless force."""
    tree = resolve(ref)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        if not force:
            raise TreeError(f"{dest} is not empty (use --force to rebuild it)")
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    as_root = os.geteuid() == 0
    for rel, mode in sorted(tree["dirs"].items()):
        target = dest / rel
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, int(str(mode), 8))
    for rel in tree["mounts"]:
        (dest / rel).mkdir(parents=True, exist_ok=True)
    for rel, entry in sorted(tree["files"].items()):
        if entry.get("absent"):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(entry.get("content", "")).replace("{node}", node))
        os.chmod(target, int(str(entry.get("mode", "0644")), 8))
        if as_root:
            os.chown(target, *_owner(entry.get("owner")))
    return tree


def demo_trees(inventory: Path, dest: Path) -> list[str]:
    """Rebuild DEST/<host> for every host of a YAML inventory that names a `kubesec_demo_tree`."""
    with Path(inventory).open() as handle:
        data = yaml.safe_load(handle) or {}
    built = []

    def walk(group: dict) -> None:
        for host, hostvars in ((group or {}).get("hosts") or {}).items():
            ref = (hostvars or {}).get("kubesec_demo_tree")
            if ref:
                materialize(Path(dest) / host, ref, node=host, force=True)
                built.append(host)
        for child in ((group or {}).get("children") or {}).values():
            walk(child)

    for group in data.values():
        walk(group)
    if not built:
        raise TreeError(f"no host in {inventory} names a kubesec_demo_tree")
    return built


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "demo":
        if len(argv) != 3:
            print("usage: nodetree.py demo INVENTORY DEST_DIR", file=sys.stderr)
            return 2
        try:
            hosts = demo_trees(Path(argv[1]), Path(argv[2]))
        except (TreeError, OSError, yaml.YAMLError) as exc:
            print(f"nodetree: {exc}", file=sys.stderr)
            return 2
        print(f"demo node trees: {', '.join(sorted(set(hosts)))} under {argv[2]}")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("tree", help="ROLE:PROFILE, e.g. worker:kubeadm-default")
    parser.add_argument("--node", default="node", help="node name written into kubeconfigs")
    parser.add_argument("--force", action="store_true", help="replace an existing tree")
    args = parser.parse_args(argv)
    try:
        materialize(args.dest, args.tree, args.node, args.force)
    except (TreeError, OSError, yaml.YAMLError) as exc:
        print(f"nodetree: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
