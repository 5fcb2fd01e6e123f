"""Which prefixes a child network gets from its super: the lengths asked or the super's
defaults, one block per family by best fit (SPEC 3)."""

from __future__ import annotations

from collections.abc import Iterable

from domain.addressing import Family
from domain.allocation import PrefixPool, block_text
from domain.errors import ExhaustedError, InvalidRequestError


def lengths_for_child(
    super_id: str, present: list[Family], defaults: dict[Family, int],
    requested: dict[Family, int], family: Family | None,
) -> dict[Family, int]:
    """The length per family a child gets: the super's defaults for the families it has,
    overridden by the request. InvalidRequestError (400) for a family the super lacks, or a
    family asked for without a length."""
    for asked in requested:
        if asked not in present:
            raise InvalidRequestError(f"no prefix of addressfamily {asked.value} in network {super_id}")
    lengths = {f: n for f, n in defaults.items() if f in present}
    lengths.update(requested)
    if family is not None and family not in lengths:  # SPEC 3.3
        raise InvalidRequestError(
            f"addressfamily {family.value} specified, but no childprefixlength for this addressfamily")
    return lengths


def choose_child_prefixes(
    pools: Iterable[PrefixPool], lengths: dict[Family, int], family: Family | None,
) -> list[str]:
    """One child prefix per family (IPv4 first) by best fit. InvalidRequestError (400) for
    lengths the super cannot serve, ExhaustedError (422) when a family has no room."""
    pools = list(pools)
    families = [family] if family else [f for f in (Family.IPV4, Family.IPV6) if f in lengths]
    chosen: list[str] = []
    for fam in families:
        length = lengths[fam]
        candidates = [p for p in pools if p.family is fam]
        for pool in candidates:
            if length <= pool.network.prefixlen:
                raise InvalidRequestError(
                    f"given length:{length} must be greater than prefix length:{pool.network.prefixlen}")
        if length > fam.max_length:
            raise InvalidRequestError(
                f"given length:{length} is greater than the maximum prefix length "
                f"{fam.max_length} of addressfamily {fam.value}")
        reasons: list[str] = []
        found: str | None = None
        for pool in candidates:
            if pool.acquired > 0:
                reasons.append(f"prefix {pool.prefix} has ips, acquire child prefix not possible")
                continue
            start = pool.best_fit(length)
            if start is not None:
                found = block_text(fam, (start, length))
                break
            message = f"no prefix found in {pool.prefix} with length:{length}"
            if pool.free:
                message += f", but {','.join(pool.free_prefixes())} are available"
            reasons.append(message)
        if found is None:
            raise ExhaustedError("; ".join(reasons))
        chosen.append(found)
    return chosen
