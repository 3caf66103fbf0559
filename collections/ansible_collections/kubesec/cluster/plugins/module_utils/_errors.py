# -*- coding: utf-8 -*-
# Copyright (c) kubesec contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of every kubesec error: a message that can carry the file and the place (field, line, document) it is about.

Node side (standard library only). The module-specific classes (CatalogueError, ManifestError, ...) keep their names
and their second base (ValueError, OSError, ...) so callers that catch those still work; deriving from KubesecError
lets a caller catch any kubesec error at once and read `path` / `place` without parsing the message.
"""

from __future__ import annotations

from typing import Any, Optional


class KubesecError(Exception):
    """KubesecError(message, path=..., place=...): str() is 'path: place: message' (each part only when given)."""

    path: Optional[str] = None
    place: object = None  # a field, a line, a document number

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        path = kwargs.pop("path", None)
        place = kwargs.pop("place", None)
        if kwargs:
            raise TypeError("unexpected keyword arguments: %s" % ", ".join(sorted(kwargs)))
        super().__init__(*args)
        self.path = path
        self.place = place
        # Fixed here: a subclass may later use `path` for something else (KubeApiError: the API path).
        self._where = ": ".join(str(part) for part in (path, place) if part not in (None, ""))

    def where(self) -> str:
        """'path: place' as given to the constructor (the parts that are set), or ''."""
        return getattr(self, "_where", "")

    def __str__(self) -> str:
        text = super().__str__()
        where = self.where()
        if where and not text.startswith(where):
            return "%s: %s" % (where, text) if text else where
        return text
