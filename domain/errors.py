"""One error tree for the IPAM; the API translates each class to one HTTP status."""

from __future__ import annotations


class IpamError(Exception):
    """Base of every error the IPAM raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequestError(IpamError, ValueError):
    """The request is malformed or breaks a rule of the SPEC (400)."""


class NotFoundError(IpamError, LookupError):
    """The network, IP or partition's super network does not exist (404)."""


class NetworkNotFoundError(NotFoundError):
    """No network with this id exists."""


class IPNotFoundError(NotFoundError):
    """No acquired IP with this address exists."""


class ConflictError(IpamError):
    """The id or the one thing asked for is taken (409, metal-go's typed 'Conflict', which
    clients read as "already exists"): an existing id, a taken specific IP, a taken VRF."""


class AlreadyExistsError(ConflictError):
    """An entity with this id already exists."""


class ConcurrentUpdateError(ConflictError):
    """The change kept colliding with concurrent changes and was given up."""


class UnprocessableError(IpamError):
    """The request is well-formed but cannot be processed as asked (422, metal-api's code for
    what the state does not allow)."""


class OverlapError(UnprocessableError):
    """A prefix overlaps one that is already in use: `prefix` (asked for) overlaps `other`,
    claimed by the network `holder` (None when both were asked for in the same request)."""

    def __init__(self, message: str, *, prefix: str = "", other: str = "",
                 holder: str | None = None) -> None:
        super().__init__(message)
        self.prefix, self.other, self.holder = prefix, other, holder


class ExhaustedError(UnprocessableError):
    """No free prefix, address or VRF id is left."""


class InUseError(UnprocessableError):
    """The prefix, address or network is still in use."""


class UnauthenticatedError(IpamError):
    """No token, or a token that is unknown, revoked or expired (401). `reason` says which, in
    one word an operator can count (`ipam_auth_failures_total`): missing, invalid, revoked,
    expired, hmac_not_configured, hmac_date (X-Date missing, malformed or too far from the
    server's clock), hmac_invalid."""

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class ForbiddenError(IpamError):
    """The token's role or projects do not allow this (403)."""


class IdempotencyMismatchError(UnprocessableError):
    """An idempotency key was used before with a different request (422)."""
