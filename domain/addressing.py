"""Address families, strict parsing and canonical text forms of prefixes and addresses."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import TypeAlias

from domain.errors import InvalidRequestError
from domain.identifiers import shown

Prefix: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


class Family(StrEnum):
    """An address family; its value is the spelling used on the wire."""

    IPV4 = "IPv4"
    IPV6 = "IPv6"

    @property
    def max_length(self) -> int:
        """Bits in an address of this family."""
        return 32 if self is Family.IPV4 else 128

    @property
    def block_length(self) -> int:
        """Length of the small blocks go-ipam counts as `available_prefixes` (/30 or /126)."""
        return self.max_length - 2

    @classmethod
    def of(cls, value: Prefix | Address) -> Family:
        """The family of a parsed prefix or address."""
        return cls.IPV4 if value.version == 4 else cls.IPV6


FAMILIES: tuple[Family, ...] = (Family.IPV4, Family.IPV6)


def parse_family(value: str) -> Family:
    """Parse an address family case-insensitively (`ipv6` == `IPv6`).

    Raises InvalidRequestError for anything else.
    """
    lowered = value.strip().lower() if isinstance(value, str) else ""
    for family in FAMILIES:
        if family.value.lower() == lowered:
            return family
    raise InvalidRequestError(f'invalid addressfamily "{value}", must be IPv4 or IPv6')


def parse_family_lengths(lengths: dict[str, int], what: str) -> dict[Family, int]:
    """Parse a `{"IPv4": 22}` map whose keys are families (case-insensitive).

    Raises InvalidRequestError naming the offending key.
    """
    parsed: dict[Family, int] = {}
    for key, length in lengths.items():
        try:
            family = parse_family(key)
        except InvalidRequestError:
            raise InvalidRequestError(
                f'{what} has an invalid addressfamily "{key}", must be IPv4 or IPv6'
            ) from None
        if family in parsed:
            raise InvalidRequestError(f'{what} names addressfamily {family.value} twice')
        if isinstance(length, bool) or not isinstance(length, int):
            raise InvalidRequestError(f"{what} for {family.value} must be an integer")
        parsed[family] = length
    return parsed


IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_LENGTH = re.compile(r"0|[1-9][0-9]{0,2}")


def parse_prefix(text: str) -> Prefix:
    """Parse a CIDR strictly: a prefix length in decimal without a leading zero (no `/024`,
    no netmask), and host bits zero. An IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1/128`) is
    refused: it would name IPv4 addresses a second time.

    Raises InvalidRequestError naming the prefix, with the canonical form when only
    host bits are wrong.
    """
    if (not isinstance(text, str) or "%" in text or text != text.strip()
            or not _LENGTH.fullmatch(text.rpartition("/")[2]) or "/" not in text):
        raise InvalidRequestError(f'given prefix {shown(str(text))} is not a valid CIDR')
    try:
        parsed = ipaddress.ip_network(text, strict=True)
    except ValueError:
        parsed = None
    if isinstance(parsed, ipaddress.IPv6Network) and parsed.subnet_of(IPV4_MAPPED):
        raise InvalidRequestError(
            f'given prefix "{text}" is an IPv4-mapped IPv6 prefix, give the IPv4 prefix instead')
    if parsed is not None:
        return parsed
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidRequestError(f'given prefix {shown(text)} is not a valid CIDR') from None
    raise InvalidRequestError(
        f'expecting canonical form of prefix "{text}", please specify it as "{loose}"'
    )


def check_cidr(text: str) -> str:
    """A CIDR to search by: it must parse (400 otherwise), host bits may be set; it is matched
    as given."""
    try:
        parse_prefix(text)
    except InvalidRequestError as error:
        if not error.message.startswith("expecting canonical form"):
            raise
    return text


def parse_address(text: str) -> Address:
    """Parse one IPv4 or IPv6 address (any valid spelling).

    Raises InvalidRequestError when it does not parse.
    """
    if not isinstance(text, str) or "%" in text or text != text.strip():
        raise InvalidRequestError(f'given ip {shown(str(text))} is not a valid ip address')
    try:
        # the family by its separator: `ip_address` tries IPv4 first and fails through an
        # exception for every IPv6 address, most of the cost of parsing one
        return ipaddress.IPv6Address(text) if ":" in text else ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidRequestError(f'given ip {shown(str(text))} is not a valid ip address') from None


def canonical_address(text: str) -> str:
    """The canonical text of an address (`2001:db8::1`)."""
    return str(parse_address(text))


def family_of_prefix_text(text: str) -> Family:
    """The family of a prefix already known to be canonical."""
    return Family.IPV6 if ":" in text else Family.IPV4
