"""Ids a client chooses (network, partition and project ids): what can be addressed later.

An id travels in URL paths, log lines, terminals and other systems' configuration, so it must
mean the same in all of them: no `/` (a path could never name it), no spaces, control,
bidirectional or zero-width characters (two ids that print alike must be one id).
"""

from __future__ import annotations

import json
import re

from domain.errors import InvalidRequestError

MAX_ID_LENGTH = 128
ID_RULE = (f"1 to {MAX_ID_LENGTH} characters of letters, digits, '.', '_', '-' and ':', "
           "starting with a letter or digit")
_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_ID_LENGTH - 1}}}")


def shown(value: str, limit: int = 64) -> str:
    """A value quoted for a message: escaped (no control character reaches a terminal or a
    log) and cut to `limit` characters."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return json.dumps(text)


def check_id(value: str, what: str) -> str:
    """The id, when it follows the rule; InvalidRequestError (400) naming the rule otherwise."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidRequestError(f"{what} {shown(str(value))} is invalid: an id is {ID_RULE}")
    return value


def check_optional_id(value: str, what: str) -> str:
    """An id that may be empty (a network without a partition or project)."""
    return check_id(value, what) if value else value
