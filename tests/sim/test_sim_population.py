"""The simulated population is stable for a seed and plausible."""

from __future__ import annotations

import ipaddress

import pytest

from payguard.sim.population import CITIES, Population, build_population

DOC_NETWORKS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]


def test_same_seed_same_population() -> None:
    assert build_population(seed=3, customers=50) == build_population(seed=3, customers=50)
    assert build_population(seed=3, customers=50) != build_population(seed=4, customers=50)


def test_customers_have_devices_ips_payees_and_shops(population: Population) -> None:
    ids = [c.account_id for c in population.customers]
    assert len(set(ids)) == len(ids)
    for customer in population.customers:
        assert 1 <= len(customer.devices) <= 2
        assert customer.devices[0].kind == "phone"
        assert 1 <= len(customer.home_ips) <= 2
        assert set(customer.home_ips) <= set(population.ips_by_city[customer.city.name])
        assert customer.as_payee not in customer.payees
        assert customer.merchants and customer.online_merchants
        assert all(m.city is customer.city for m in customer.merchants)
        assert customer.spending_level > 0


def test_spending_is_skewed_like_incomes(population: Population) -> None:
    levels = sorted(c.spending_level for c in population.customers)
    median = levels[len(levels) // 2]
    mean = sum(levels) / len(levels)
    assert mean > median
    assert levels[-1] > 3 * median


def test_ips_are_documentation_addresses_and_one_place_each(population: Population) -> None:
    seen: set[str] = set()
    for block in [*population.ips_by_city.values(), population.hosting_ips]:
        assert not seen & set(block)
        seen |= set(block)
        for ip in block:
            assert any(ipaddress.ip_address(ip) in net for net in DOC_NETWORKS)
    assert len(seen) > 700


def test_cities_span_asia_and_europe() -> None:
    countries = {c.country for c in CITIES}
    assert len(CITIES) >= 12
    assert {"SG", "CN", "JP", "IN", "GB", "DE"} <= countries


def test_at_least_one_customer_is_required() -> None:
    with pytest.raises(ValueError, match="customers"):
        build_population(seed=1, customers=0)
