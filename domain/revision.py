"""What an update of a network may change, and how (SPEC 5): the rules checked before anything
is recorded. `Network.revise` applies the result."""

from __future__ import annotations

from dataclasses import dataclass

from domain.addressing import parse_family_lengths
from domain.errors import InvalidRequestError
from domain.network_state import NetworkState
from domain.network_values import NetworkChanges
from domain.spec import (
    check_child_lengths,
    check_destination_families,
    check_managed,
    parse_prefixes,
)


@dataclass(frozen=True)
class Revision:
    """A checked update: the prefixes the network has afterwards (in order) and the changed
    attributes (None: unchanged)."""

    prefixes: list[str]
    changes: NetworkChanges


@dataclass(frozen=True)
class UpdateRequest(NetworkChanges):
    """An update as asked: the changes (None, and for prefix lists also empty, leaves a field
    as it is), the prefixes the network should have, and whether removing announcable CIDRs
    was forced."""

    prefixes: list[str] | None = None
    force: bool = False


def check_revision(network: NetworkState, request: UpdateRequest) -> Revision:
    """The update's rules (InvalidRequestError, 400, at the first broken one); what is in use
    is checked when the prefixes are removed (InUseError, 422)."""
    prefixes = request.prefixes or None  # null or empty: unchanged (SPEC 9)
    destination_prefixes = request.destination_prefixes or None
    if request.shared is False and network.shared:
        raise InvalidRequestError("once a network is marked as shared it is not possible to unshare it")
    new_prefixes = list(network.pools)
    if prefixes is not None:
        parsed = [str(p) for p in check_managed(parse_prefixes(prefixes))]
        if network.parent_id is not None and parsed != new_prefixes:
            raise InvalidRequestError("the prefixes of a child network can not be changed")
        new_prefixes = list(dict.fromkeys(parsed))
    parsed_new = parse_prefixes(new_prefixes)
    destinations = parse_prefixes(
        destination_prefixes if destination_prefixes is not None else network.destination_prefixes)
    check_destination_families(destinations, parsed_new)
    asked_lengths = request.default_child_prefix_length
    if asked_lengths == {} and not network.private_super:
        asked_lengths = None  # an empty map on a plain network sets nothing
    lengths = None
    if asked_lengths is not None:
        if not network.private_super:
            raise InvalidRequestError("defaultchildprefixlength can only be set for privatesuper networks")
        lengths = parse_family_lengths(asked_lengths, "defaultchildprefixlength")
    if network.private_super:
        check_child_lengths(lengths if lengths is not None else network.child_lengths(), parsed_new)
    announcable = None
    if request.additional_announcable_cidrs is not None:
        announcable = [str(p) for p in parse_prefixes(request.additional_announcable_cidrs)]
        if announcable and not network.private_super:
            raise InvalidRequestError("additionalannouncablecidrs can only be set in a private super network")
        removed = set(network.additional_announcable_cidrs) - set(announcable)
        if removed and not request.force:
            raise InvalidRequestError(
                "you are trying to remove the additionalannouncablecidrs "
                f"{','.join(sorted(removed))}, this requires force=true")
    return Revision(prefixes=new_prefixes, changes=NetworkChanges(
        name=request.name, description=request.description, labels=request.labels,
        shared=request.shared,
        destination_prefixes=[str(p) for p in destinations] if destination_prefixes is not None else None,
        additional_announcable_cidrs=announcable,
        default_child_prefix_length={f.value: n for f, n in lengths.items()} if lengths is not None else None,
    ))
