"""Canonical addresses and networks (`core.ip`), and the list matcher, against `ipaddress`."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payguard.core.ip import (
    AddressIndex,
    canonical_address,
    canonical_network,
    parse_address,
    parse_network,
)

V4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
V6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
ADDRESSES = st.one_of(V4, V6)


def spellings(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """Several ways to write one address."""
    if isinstance(address, ipaddress.IPv4Address):
        mapped = ipaddress.IPv6Address(f"::ffff:{address}")
        return [str(address), f"::ffff:{address}", mapped.exploded, mapped.compressed.upper()]
    return [str(address), address.exploded, address.exploded.upper(), address.compressed.upper()]


def as_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """An IPv4-mapped address as its IPv4 address (what the lists match on)."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def as_ipv4_network(text: str):
    """An IPv4-mapped network (prefix 96 or more) as its IPv4 network. A wider IPv6 network,
    even ::/0, holds only IPv6 addresses: mapped addresses are matched as IPv4."""
    network = ipaddress.ip_network(text)
    mapped = ipaddress.ip_network("::ffff:0:0/96")
    if network.version == 6 and network.prefixlen >= 96 and network.subnet_of(mapped):
        return ipaddress.ip_network((as_ipv4(network.network_address), network.prefixlen - 96))
    return network


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address = draw(ADDRESSES)
    prefix = draw(st.integers(0, address.max_prefixlen))
    return ipaddress.ip_network((address, prefix), strict=False)


@given(ADDRESSES)
def test_the_canonical_form_is_idempotent_and_shared_by_every_spelling(address) -> None:
    forms = {canonical_address(spelling) for spelling in spellings(address)}
    assert len(forms) == 1
    (canonical,) = forms
    assert canonical_address(canonical) == canonical
    assert canonical == canonical.lower()


@given(V4)
def test_a_mapped_address_is_its_ipv4_address(address: ipaddress.IPv4Address) -> None:
    assert parse_address(f"::ffff:{address}") == address
    assert canonical_address(f"::ffff:{address}") == str(address)


@given(V6)
def test_an_ipv6_address_is_compressed_lower_case(address: ipaddress.IPv6Address) -> None:
    if address.ipv4_mapped is None:
        assert canonical_address(address.exploded.upper()) == address.compressed


@given(networks())
def test_the_canonical_network_is_idempotent(network) -> None:
    text = canonical_network(str(network))
    assert canonical_network(text) == text
    if network.prefixlen == network.max_prefixlen:
        assert "/" not in text


@given(networks(), ADDRESSES)
def test_an_address_is_in_a_network_iff_ipaddress_says_so(network, address) -> None:
    index = AddressIndex({str(network): ("l",)})
    expected = address.version == network.version and address in network
    assert (index.get(str(address)) == ("l",)) is expected
    if isinstance(address, ipaddress.IPv4Address):
        assert (index.get(f"::ffff:{address}") == ("l",)) is expected


@given(st.lists(networks(), min_size=1, max_size=30), st.lists(ADDRESSES, max_size=10))
def test_the_index_finds_exactly_the_lists_whose_networks_hold_the_address(
    found_networks, addresses
) -> None:
    entries = {str(net): (f"list_{i % 3}",) for i, net in enumerate(found_networks)}
    index = AddressIndex(entries)
    # Probe the network addresses too: they sit on the edges of the ranges.
    probes = list(addresses) + [net.network_address for net in found_networks]
    probes += [net.broadcast_address for net in found_networks]
    for address in probes:
        plain = as_ipv4(address)
        expected = sorted(
            {
                names[0]
                for text, names in entries.items()
                if plain.version == (net := as_ipv4_network(text)).version and plain in net
            }
        )
        assert list(index.get(str(address), ())) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-an-ip",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.256",
        "fe80::1%eth0",
        "::1::1",
        "1.2.3.4 ",
        " 1.2.3.4",
        "\uff11.2.3.4",
        "1" * 10_000,
    ],
)
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_address(bad)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("1.2.3.4/33", "0-32"),
        ("::/129", "0-128"),
        ("1.2.3.4/", "must be a number"),
        ("1.2.3.4/a", "must be a number"),
        ("1.2.3.4/0x8", "must be a number"),
        ("1.2.3.4/1000", "must be a number"),
        ("1.2.3.4/\u0663", "must be a number"),
        ("10.1.2.3/8", "the network is 10.0.0.0/8"),
        ("2001:db8::1/32", "the network is 2001:db8::/32"),
        ("fe80::%1/64", "zone ids"),
        ("1.2.3.4/8/8", "must be a number"),
    ],
)
def test_bad_networks_are_refused_in_words(bad: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        parse_network(bad)


def test_mapped_networks_are_ipv4_networks() -> None:
    assert canonical_network("::ffff:10.0.0.0/104") == "10.0.0.0/8"
    assert canonical_network("::ffff:0:0/96") == "0.0.0.0/0"
    assert canonical_network("::ffff:192.0.2.1/128") == "192.0.2.1"
    assert canonical_network("::fffe:0:0/95") == "::fffe:0:0/95"


def test_the_index_keeps_its_entries_and_ignores_ones_that_are_not_addresses() -> None:
    index = AddressIndex({"junk": ("a",), "2001:DB8::1": ("b",), "10.0.0.0/8": ("c",)})
    assert sorted(index) == ["10.0.0.0/8", "2001:DB8::1", "junk"] and len(index) == 3
    assert index.get("junk") is None and "junk" not in index
    assert index["2001:db8::1"] == ("b",) and "::ffff:10.1.1.1" in index
    with pytest.raises(KeyError):
        index["11.0.0.0"]
