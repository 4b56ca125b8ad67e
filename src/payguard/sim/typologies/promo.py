"""`promo_abuse`: one device farms a sign-up promotion.

A single phone (usually an emulator, often rooted) opens account after account with the same
promotion or referral code, a few minutes apart, behind one to three addresses. Each new
account does the smallest qualifying action: a tiny merchant payment with the code, or a small
transfer of the bonus to the abuser's collector account (which the wallet books there as a
deposit).
"""

from __future__ import annotations

from payguard.sim import wire
from payguard.sim.legit import round_to, session_base
from payguard.sim.population import PUBLIC_PROMO_CODES, Payee, referral_code
from payguard.sim.tactics import Campaign, attacker_device, attacker_network
from payguard.sim.wire import MINUTE_MS, SECOND_MS

PROMO_ACCOUNTS = (6, 25)
#: Share of the new accounts that send the bonus to the collector (the others buy something).
PROMO_TO_COLLECTOR = 0.4
PROMO_GAP_MS = (2 * MINUTE_MS, 20 * MINUTE_MS)

PROMO_ABUSE_MEAN_EVENTS = (
    (PROMO_ACCOUNTS[0] + PROMO_ACCOUNTS[1])
    / 2
    * (3 + PROMO_TO_COLLECTOR * 3 + (1 - PROMO_TO_COLLECTOR))
)


def promo_abuse(campaign: Campaign, t: int) -> None:
    """One sign-up farm run starting at `t`."""
    rng = campaign.rng
    population = campaign.population
    city = campaign.city()
    device = attacker_device(rng, web_share=0.0, emulator=0.6, rooted=0.4)
    networks = [
        attacker_network(rng, population, city, device, hosting=0.5)[:2]
        for _ in range(rng.randint(1, 3))
    ]
    collector: Payee = campaign.new_account(city)
    code = rng.choice(PUBLIC_PROMO_CODES) if rng.random() < 0.5 else referral_code(collector.id)
    merchants = [m for m in population.online_merchants if m.category.mcc in ("5818", "4814")]
    merchants = merchants or list(population.online_merchants)

    for n in range(rng.randint(*PROMO_ACCOUNTS)):
        if n:
            t = campaign.wait(t, *PROMO_GAP_MS)
        account = campaign.new_account(city)
        ip, where = rng.choice(networks)
        base = session_base(rng, device)
        attributes = {**base, "kyc_level": "basic", "promo_code": code}
        campaign.emit(t, "account_open", account.id, city, device, ip, where, attributes)
        t = campaign.wait(t, 20 * SECOND_MS, 2 * MINUTE_MS)
        attributes = {**base, "success": True, "method": "otp"}
        campaign.emit(t, "login", account.id, city, device, ip, where, attributes)
        t = campaign.wait(t, 15 * SECOND_MS, 90 * SECOND_MS)
        if rng.random() < PROMO_TO_COLLECTOR:
            attributes = {**base, "payee_source": "manual"}
            campaign.emit(
                t, "payee_add", account.id, city, device, ip, where, attributes, payee=collector
            )
            t = campaign.wait(t, 10 * SECOND_MS, 60 * SECOND_MS)
            value = round_to(rng.uniform(3, 15) * city.usd_rate, city.small_unit)
            amount = wire.amount(value, city.currency)
            attributes = {**base, "funding": "balance", "promo_code": code}
            campaign.emit(
                t,
                "payment",
                account.id,
                city,
                device,
                ip,
                where,
                attributes,
                amount=amount,
                payee=collector,
            )
            t = campaign.wait(t, SECOND_MS, 8 * SECOND_MS)
            campaign.credit(t, collector.id, city, amount, "transfer_in", payee=account)
        else:
            value = rng.uniform(1, 6) * city.usd_rate
            attributes = {**base, "funding": "balance", "promo_code": code}
            campaign.emit(
                t,
                "payment",
                account.id,
                city,
                device,
                ip,
                where,
                attributes,
                amount=wire.amount(value, city.currency),
                merchant=rng.choice(merchants),
            )
