#!/usr/bin/env python3
"""Regenerate the dependency locks from pyproject.toml (run through `make lock`).

    requirements/test.txt     runtime + test extras, every transitive package pinned with hashes
    requirements/runtime.txt  runtime only, constrained to the same versions as test.txt

uv (`uv pip compile`) resolves: it reads pyproject.toml directly, resolves for every platform at once (--universal)
in about a second, and writes pip's own requirements format, so installing needs nothing but pip. Each lock records
a digest of its inputs (the dependency lists of pyproject.toml and requirements/constraints.in);
tests/unit/test_lock.py fails when they no longer match, i.e. when someone edited pyproject.toml without `make lock`.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
REQ = ROOT / "requirements"
CONSTRAINTS = REQ / "constraints.in"
DIGEST_PREFIX = "# inputs-sha256: "
PYTHON = "3.11"  # the oldest Python the project supports (pyproject requires-python)


def inputs_digest(root: pathlib.Path = ROOT) -> str:
    """Digest of what the locks are resolved from (not of pyproject's tool settings)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    constraints = [line.split("#", 1)[0].strip() for line in (root / "requirements/constraints.in").read_text().splitlines()]
    data = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "constraints": [c for c in constraints if c],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: pathlib.Path) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line[len(DIGEST_PREFIX) :].strip()
    return None


def _compile(uv: str, out: pathlib.Path, *extra: str) -> None:
    cmd = [
        uv,
        "pip",
        "compile",
        "pyproject.toml",
        "--quiet",
        "--universal",
        "--python-version",
        PYTHON,
        "--generate-hashes",
        "--custom-compile-command",
        "make lock",
        "-o",
        str(out.relative_to(ROOT)),
        *extra,
    ]
    subprocess.run(cmd, cwd=ROOT, check=True)
    lines = out.read_text().splitlines(keepends=True)
    # the digest goes right below uv's header comment
    at = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines.insert(at, f"{DIGEST_PREFIX}{inputs_digest()}\n")
    out.write_text("".join(lines))


def main() -> int:
    uv = sys.argv[1] if len(sys.argv) > 1 else "uv"
    _compile(uv, REQ / "test.txt", "--extra", "test", "-c", "requirements/constraints.in")
    _compile(uv, REQ / "runtime.txt", "-c", "requirements/constraints.in", "-c", "requirements/test.txt")
    print("wrote requirements/test.txt and requirements/runtime.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
