# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: find and load the CIS catalogues shipped in the collection's data/cis/ folder."""

from __future__ import annotations

import os
import re

import yaml

CATALOGUE_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "data", "cis"))
_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


class CatalogueNotFound(ValueError):
    pass


def available(directory=CATALOGUE_DIR):
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith(".yml"))


def load(benchmark, directory=CATALOGUE_DIR, path=None):
    """The parsed catalogue for a benchmark name (cis-1.12) or an explicit file path."""
    if path is None:
        if not _NAME.match(benchmark or ""):
            raise CatalogueNotFound("benchmark name %r is not valid (e.g. cis-1.12)" % (benchmark,))
        path = os.path.join(directory, benchmark + ".yml")
        if not os.path.isfile(path):
            raise CatalogueNotFound("no CIS catalogue for benchmark %r; available: %s"
                                    % (benchmark, ", ".join(available(directory))))
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueNotFound("cannot load CIS catalogue %s: %s" % (path, exc)) from exc
    if not isinstance(data, dict) or "checks" not in data:
        raise CatalogueNotFound("CIS catalogue %s has no 'checks' list" % path)
    return data
