"""metal-stack's HMAC authentication, as metal-stack/security's `HMACAuth` computes it (what
`metalctl --hmac` and metal-go's `HMACAuth` send):

    Authorization: Metal-Admin <hex HMAC-SHA256(key, ts + METHOD + salt)>
    X-Date: <ts, RFC 3339, UTC, whole seconds>
    X-Data-Salt: <salt>

Each type has a key of its own (`IPAM_HMAC_VIEW_KEY`, `IPAM_HMAC_EDIT_KEY`,
`IPAM_HMAC_ADMIN_KEY`) and maps to a role across all projects; a type without a key is
refused. The MAC is computed over the timestamp as metal-stack formats it (a client may send
fractions or an offset: it is read, then written the Go way), and compared in constant time.
A timestamp more than 15 s old is refused, and so is one more than 15 s ahead (metal-api lets a
future timestamp through; a captured request would then stay valid for as long as it is ahead).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from application.access import Principal
from domain.errors import UnauthenticatedError
from domain.token import Role

LIFETIME = timedelta(seconds=15)
ROLES: dict[str, Role] = {"Metal-View": Role.viewer, "Metal-Edit": Role.editor,
                          "Metal-Admin": Role.admin}
ENVIRONMENT: dict[str, str] = {"Metal-View": "IPAM_HMAC_VIEW_KEY",
                               "Metal-Edit": "IPAM_HMAC_EDIT_KEY",
                               "Metal-Admin": "IPAM_HMAC_ADMIN_KEY"}


def go_rfc3339(moment: datetime) -> str:
    """Go's `t.UTC().Format(time.RFC3339)`: whole seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mac_of(key: bytes, timestamp: str, method: str, salt: str) -> str:
    """The hex HMAC-SHA256 of timestamp, method and salt, written one after the other."""
    return hmac.new(key, (timestamp + method + salt).encode("utf-8"), hashlib.sha256).hexdigest()


class HmacKeys:
    """The configured keys, by auth type."""

    def __init__(self, keys: Mapping[str, str], now: Callable[[], datetime] | None = None) -> None:
        self._keys = {kind: key.encode("utf-8") for kind, key in keys.items() if key}
        self._now = now or (lambda: datetime.now(UTC))

    @classmethod
    def from_environment(cls) -> HmacKeys:
        return cls({kind: os.environ.get(name, "") for kind, name in ENVIRONMENT.items()})

    @staticmethod
    def is_hmac(scheme: str) -> bool:
        return scheme in ROLES

    def authenticate(self, kind: str, mac: str, method: str, date: str | None,
                     salt: str | None) -> Principal:
        """The principal of an HMAC-signed request (subject `hmac:<type>`, every project).
        Raises UnauthenticatedError (401) for a type without a key, a missing or malformed or
        stale X-Date, or a wrong MAC."""
        key = self._keys.get(kind)
        if key is None:
            raise UnauthenticatedError(f"HMAC authentication of type {kind} is not configured",
                                       reason="hmac_not_configured")
        if not date:
            raise UnauthenticatedError("HMAC authentication needs an X-Date header (RFC 3339)",
                                       reason="hmac_date")
        try:
            moment = datetime.fromisoformat(date.strip())
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise UnauthenticatedError("the X-Date header must be an RFC 3339 time, e.g. "
                                       "2026-01-01T00:00:00Z", reason="hmac_date")
        age = self._now() - moment
        if age > LIFETIME:
            raise UnauthenticatedError("the timestamp in your header is too old, please check "
                                       "that your clock is synchronised", reason="hmac_date")
        if -age > LIFETIME:
            raise UnauthenticatedError("the timestamp in your header is in the future, please "
                                       "check that your clock is synchronised", reason="hmac_date")
        expected = mac_of(key, go_rfc3339(moment), method, salt or "")
        if not hmac.compare_digest(expected.encode(), mac.strip().encode("utf-8", "replace")):
            raise UnauthenticatedError("wrong HMAC", reason="hmac_invalid")
        subject = f"hmac:{kind}"
        return Principal(subject=subject, role=ROLES[kind], projects=None, credential=subject)
