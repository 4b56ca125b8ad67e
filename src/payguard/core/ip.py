"""IP addresses and networks in one canonical spelling, and a matcher for lists of them.

One address has many spellings (`2001:DB8::1`, `2001:db8:0:0::1`, `::ffff:192.0.2.1` for
`192.0.2.1`). Whatever counts or matches per address (block lists, the per-address lockout,
velocity per IP) keys on the canonical form, else writing the address another way dodges it:

- IPv4: dotted decimal, no leading zeros (`ipaddress` refuses `01.2.3.4`, which some parsers
  read as octal);
- an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is its IPv4 address;
- IPv6: compressed, lower case (RFC 5952);
- zone ids (`fe80::1%eth0`) are refused: they name an interface of the sender's host, not
  an address anyone else can see;
- a network is `address/prefix` with no host bits set (`10.1.2.3/8` is refused, naming
  `10.0.0.0/8`, rather than silently widened); a /32 or /128 network is the plain address;
  an IPv4-mapped IPv6 network of prefix 96 or more is its IPv4 network.

Matching follows: an IPv4 address (mapped or not) is held only by IPv4 networks, an IPv6
address only by IPv6 networks; `::/0` holds every IPv6 address but no IPv4 one.

Every parse error is a `ValueError` whose message is safe to show the caller.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TypeVar, overload

__all__ = [
    "Address",
    "AddressIndex",
    "Network",
    "canonical_address",
    "canonical_network",
    "parse_address",
    "parse_network",
]

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

#: Longest text that can be an address or a network: a full IPv6 address with an embedded
#: IPv4 tail (45) and "/128". Longer input is refused before any parsing.
MAX_TEXT = 49
_MAPPED = IPv6Network("::ffff:0:0/96")
_T = TypeVar("_T")


def parse_address(text: str) -> Address:
    """The address `text` spells, IPv4-mapped IPv6 as IPv4; `ValueError` if it spells none."""
    address = _parse(text)
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def canonical_address(text: str) -> str:
    """The one spelling of the address `text` spells; `ValueError` if it spells none."""
    return str(parse_address(text))


def parse_network(text: str) -> Network:
    """The network `text` spells (`address/prefix`, or a bare address as a /32 or /128)."""
    address_text, slash, prefix_text = text.partition("/")
    address = _parse(address_text)
    width: int = address.max_prefixlen
    if not slash:
        prefix = width
    elif prefix_text.isdecimal() and prefix_text.isascii() and len(prefix_text) <= 3:
        prefix = int(prefix_text)
        if prefix > width:
            raise ValueError(f"the prefix length must be 0-{width} for IPv{address.version}")
    else:
        raise ValueError("the prefix length after / must be a number")
    try:
        network = ip_network((address, prefix), strict=True)
    except ValueError:
        wide = ip_network((address, prefix), strict=False)
        raise ValueError(f"host bits are set; the network is {_network_text(wide)}") from None
    if isinstance(network, IPv6Network) and network.prefixlen >= 96 and network.subnet_of(_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return IPv4Network((mapped, network.prefixlen - 96))
    return network


def canonical_network(text: str) -> str:
    """The one spelling of the network or address `text` spells (a single address is
    written without `/32` or `/128`); `ValueError` if it spells neither."""
    return _network_text(parse_network(text))


def _network_text(network: Network) -> str:
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _parse(text: str) -> Address:
    if len(text) > MAX_TEXT or not text.isascii():
        raise ValueError("not an IPv4 or IPv6 address")
    if "%" in text:
        raise ValueError("zone ids (the %... suffix) are not accepted")
    try:
        return ip_address(text)
    except ValueError:
        raise ValueError("not an IPv4 or IPv6 address") from None


class AddressIndex(Mapping[str, tuple[str, ...]]):
    """List entries keyed by address or network, looked up by address.

    Built from `entry → names of the lists holding it`, where an entry is an address or a
    network. `index.get(address)` takes any spelling of an address and returns the names of
    every list holding an entry that contains it (sorted, without repeats), or the default.
    Iterating yields the entries as given. Entries that are neither are kept for iteration
    but never match.

    Lookup cost is one dictionary probe per distinct prefix length present in the address's
    family (at most 33 for IPv4, 129 for IPv6), whatever the number of entries.
    """

    __slots__ = ("_entries", "_tables")

    def __init__(self, entries: Mapping[str, tuple[str, ...]]) -> None:
        self._entries = dict(entries)
        # family (4 or 6) → ((prefix length, shift, {network int >> shift: names}), ...),
        # longest prefix first.
        tables: dict[int, dict[int, dict[int, tuple[str, ...]]]] = {4: {}, 6: {}}
        for entry, names in self._entries.items():
            network = _stored_network(entry)
            if network is None:
                continue
            shift = network.max_prefixlen - network.prefixlen
            table = tables[network.version].setdefault(network.prefixlen, {})
            key = int(network.network_address) >> shift
            table[key] = _merge(table.get(key, ()), names)
        self._tables = {
            version: tuple(
                (width - prefix, by_prefix[prefix]) for prefix in sorted(by_prefix, reverse=True)
            )
            for version, by_prefix, width in ((4, tables[4], 32), (6, tables[6], 128))
        }

    def lookup(self, address: str) -> tuple[str, ...]:
        """Names of the lists holding `address` or a network containing it."""
        try:
            parsed = parse_address(address)
        except ValueError:
            return ()
        value = int(parsed)
        found: tuple[str, ...] = ()
        for shift, table in self._tables[parsed.version]:
            names = table.get(value >> shift)
            if names is not None:
                found = _merge(found, names) if found else names
        return found

    @overload
    def get(self, key: str, /) -> tuple[str, ...] | None: ...

    @overload
    def get(self, key: str, default: tuple[str, ...], /) -> tuple[str, ...]: ...

    @overload
    def get(self, key: str, default: _T, /) -> tuple[str, ...] | _T: ...

    def get(self, key: str, default: object = None, /) -> object:
        found = self.lookup(key)
        return found if found else default

    def __getitem__(self, key: str) -> tuple[str, ...]:
        found = self.lookup(key)
        if not found:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.lookup(key))

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _stored_network(entry: str) -> Network | None:
    """The network a stored item spells, or None. Stored items are canonical (one
    `ip_network` parse, three times cheaper than `parse_network`) unless written before
    items were canonicalised: those take the full parse."""
    if "%" not in entry:
        try:
            network = ip_network(entry)
        except ValueError:
            network = None
        if isinstance(network, IPv4Network) or (
            isinstance(network, IPv6Network) and not network.overlaps(_MAPPED)
        ):
            return network
    try:
        return parse_network(entry)
    except ValueError:
        return None


def _merge(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    if not first:
        return second
    return tuple(sorted(set(first) | set(second)))
