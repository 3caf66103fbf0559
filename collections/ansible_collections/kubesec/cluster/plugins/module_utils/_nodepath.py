# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve a node path (as the node sees it) to a real path inside the node root, and never outside it.

The modules work on a node tree below `root` (`/` on a real node). A plain join is not enough: an absolute
symlink inside the tree (`<root>/var/lib/kubelet -> /elsewhere`) points at the controller's or the host's
`/elsewhere`, and `..` in a path or a link target (`--config=/../x.yaml`) climbs out of the tree. Here every
component is resolved by hand, the way the node would resolve it with `root` as its `/`: absolute link targets
start again at the root, relative ones at the link's directory, and a `..` that would go above the root is
refused with an error naming the path (and the link that led there).
"""

from __future__ import annotations

import os
from typing import List, Optional

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

MAX_LINKS = 40  # as Linux (ELOOP)


class NodePathError(KubesecError, OSError):
    """A node path cannot be resolved inside the node root (names the path and why).

    An OSError, so code that already reports unreadable node files reports this one the same way.
    """


def _parts(path: str) -> List[str]:
    return [part for part in path.split("/") if part and part != "."]


def resolve(root: Optional[str], path: object) -> str:
    """Real path of the node path `path` below `root`, with every symlink resolved inside `root`.

    Components that do not exist are kept as they are (a file about to be created resolves too). Raises
    NodePathError for a relative path, a NUL byte, a `..` above the root, or a symlink loop.
    """
    text = str(path)
    if not text.startswith("/"):
        raise NodePathError("%r is not an absolute node path" % (text,))
    if "\x00" in text:
        raise NodePathError("%r contains a NUL byte" % (text,))
    base = os.path.realpath(root or "/")
    done: List[str] = []  # components below the root, each an existing directory or a not-yet-existing name
    pending = _parts(text)
    links = 0
    via = None  # the last symlink followed, for the message
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not done:
                raise NodePathError("node path %s leaves the node root %s%s; refused" % (text, root, " (through the symlink %s)" % via if via else ""))
            done.pop()
            continue
        candidate = os.path.join(base, *done, part)
        if os.path.islink(candidate):
            links += 1
            if links > MAX_LINKS:
                raise NodePathError("node path %s: more than %d symlinks (a loop?)" % (text, MAX_LINKS))
            target = os.readlink(candidate)
            via = "/%s -> %s" % ("/".join([*done, part]), target)
            if target.startswith("/"):
                done = []
            pending = _parts(target) + pending
            continue
        done.append(part)
    return os.path.join(base, *done) if done else base


def node_path_of(root: Optional[str], real: str) -> str:
    """The node path of a real path below the root (for messages); the real path when it is not below it."""
    base = os.path.realpath(root or "/")
    if base == "/":
        return real
    if real == base:
        return "/"
    if real.startswith(base + os.sep):
        return real[len(base):]
    return real
