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
    """The request collides with the current state (409)."""


class AlreadyExistsError(ConflictError):
    """An entity with this id already exists."""


class OverlapError(ConflictError):
    """A prefix overlaps one that is already in use."""


class ExhaustedError(ConflictError):
    """No free prefix or address is left."""


class InUseError(ConflictError):
    """The prefix, address or network is still in use."""


class ConcurrentUpdateError(ConflictError):
    """The change kept colliding with concurrent changes and was given up."""


class UnprocessableError(IpamError):
    """The request is well-formed but cannot be processed as asked (422)."""


class UnauthenticatedError(IpamError):
    """No token, or a token that is unknown, revoked or expired (401)."""


class ForbiddenError(IpamError):
    """The token's role or projects do not allow this (403)."""


class IdempotencyMismatchError(UnprocessableError):
    """An idempotency key was used before with a different request (422)."""
