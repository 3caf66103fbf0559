# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one YAML loader for files read on nodes: safe, bounded in size, nesting and alias expansion.

yaml.safe_load shares an aliased node instead of copying it, so loading a "billion laughs" file is cheap, but
everything after it (comparing, dumping, JSON-encoding the module result) walks the expanded tree: a 1.5 KB
file cost 6-9 s, 290 MB and a 40 MB module result. Here the document is composed first and the size of its
expanded tree counted (linear in the file, each shared node counted once per use) before anything is built;
a document that expands beyond MAX_NODES nodes, aliases itself, nests deeper than MAX_DEPTH (checked on the
parser's events first, so composing never recurses deeply) or is larger than MAX_BYTES is refused with an error
naming the file. Real kubelet configs and static pod manifests
have a few hundred nodes and no aliases.
"""

from __future__ import annotations
from typing import Any, Dict, List, Optional, Set

from ansible_collections.kubesec.cluster.plugins.module_utils._errors import KubesecError

# The one PyYAML import guard of the collection: every module_util takes yaml, HAS_YAML, YAML_LOADER (libyaml's
# CSafeLoader when present, a chart with its CRDs is megabytes of YAML) and YAML_IMPORT_ERROR from here.
try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
    YAML_LOADER = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
except ImportError as _exc:  # pragma: no cover - nodes without PyYAML get a clear error from the caller
    yaml = None  # type: ignore[assignment]
    HAS_YAML = False
    YAML_IMPORT_ERROR = str(_exc)
    YAML_LOADER = None

MAX_BYTES = 4 * 1024 * 1024  # a kubeadm kube-apiserver.yaml is ~4 KB, a KubeletConfiguration ~1-2 KB
MAX_NODES = 100000  # expanded nodes (scalars, sequences, mappings), aliases counted as what they copy
MAX_DEPTH = 64  # nested collections; a kubeadm manifest has 7


class SafeYAMLError(KubesecError, ValueError):
    """The text is not YAML, or is YAML beyond the bounds. str() names the source; line/column/problem for callers."""

    def __init__(self, source: str, problem: str, line: Optional[int] = None, column: Optional[int] = None) -> None:
        self.source, self.problem, self.line, self.column = source, problem, line, column
        where = " (line %d, column %d)" % (line, column or 0) if line else ""
        super().__init__("%s is not valid YAML%s: %s" % (source, where, problem))


def _expanded_size(node: Any, source: str, limit: int) -> int:
    """Number of nodes the document has once every alias is copied; raises past `limit` or on a cycle."""
    sizes: Dict[int, int] = {}
    active: Set[int] = set()
    aliased: List[int] = []

    def walk(item: Any) -> int:
        key = id(item)
        if key in sizes:
            aliased.append(key)  # a node met again is an alias use
            return sizes[key]
        if key in active:
            raise SafeYAMLError(source, "an alias refers to the node that contains it (recursive alias); refused")
        active.add(key)
        if isinstance(item, yaml.ScalarNode):
            total = 1
        elif isinstance(item, yaml.SequenceNode):
            total = 1 + sum(walk(child) for child in item.value)
        else:
            total = 1 + sum(walk(k) + walk(v) for k, v in item.value)
        active.discard(key)
        sizes[key] = total
        if total > limit:
            if aliased:
                raise SafeYAMLError(source, "the document expands to more than %d nodes through its aliases (an alias bomb?); refused" % limit)
            raise SafeYAMLError(source, "the document has more than %d nodes; refused" % limit)
        return total

    return walk(node)


def _check_depth(text: str, source: str, max_depth: int) -> None:
    """Walk the parser's events (no recursion) and refuse nesting deeper than max_depth before composing."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > max_depth:
                mark = event.start_mark  # the parser marks every event
                raise SafeYAMLError(
                    source, "collections nested more than %d deep; refused" % max_depth, mark.line + 1 if mark else None, mark.column + 1 if mark else None
                )
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def load(text: str, source: str, max_nodes: int = MAX_NODES, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one YAML document like yaml.safe_load, within the bounds; raises SafeYAMLError naming `source`."""
    if not HAS_YAML:
        raise SafeYAMLError(source, "PyYAML is not installed on the node (python3-yaml)")
    if len(text) > max_bytes:
        raise SafeYAMLError(source, "the file is %d bytes, more than the %d this reads; refused" % (len(text), max_bytes))
    loader = yaml.SafeLoader(text)
    try:
        _check_depth(text, source, max_depth)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, source, max_nodes)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            raise SafeYAMLError(source, problem, mark.line + 1, mark.column + 1) from None
        raise SafeYAMLError(source, problem) from None
    except RecursionError:
        raise SafeYAMLError(source, "nested too deeply to parse; refused") from None
    finally:
        loader.dispose()
