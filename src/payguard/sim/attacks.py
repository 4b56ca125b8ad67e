"""Labelled fraud campaigns: which typologies run, how often, and when the partner learns of
them.

Each typology (see `payguard.sim.typologies`) builds one campaign at a time, leaving the
traces the real attack leaves. Campaigns arrive as a Poisson process, so the attack stream
works for endless runs too; their typologies are dealt from a shuffled deck, so every typology
shows up within the first `DECK` campaigns of any run, however short.

Labels arrive late, as they do in practice: every fraud event carries `label_at`, when the
partner learns of it (the victim's report, the shop's complaint, an operations review, a
chargeback), or None when nobody ever reports it (the label is then ground truth only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from heapq import heappop, heappush
from random import Random
from typing import Any

from payguard.sim.population import Population
from payguard.sim.tactics import Campaign, Targets
from payguard.sim.typologies.cards import (
    CARD_TESTING_MEAN_EVENTS,
    FAKE_MERCHANT_MEAN_EVENTS,
    card_testing,
    fake_merchant,
)
from payguard.sim.typologies.mules import MONEY_MULE_MEAN_EVENTS, money_mule
from payguard.sim.typologies.promo import PROMO_ABUSE_MEAN_EVENTS, promo_abuse
from payguard.sim.typologies.scams import (
    APP_SCAM_MEAN_EVENTS,
    QR_SWAP_MEAN_EVENTS,
    app_scam,
    qr_swap,
)
from payguard.sim.typologies.takeover import (
    ACCOUNT_TAKEOVER_MEAN_EVENTS,
    SIM_SWAP_MEAN_EVENTS,
    account_takeover,
    sim_swap,
)
from payguard.sim.typologies.terminals import (
    COMPROMISED_TERMINAL_MEAN_EVENTS,
    compromised_terminal,
)
from payguard.sim.wire import DAY_MS, HOUR_MS

ACCOUNT_TAKEOVER = "account_takeover"
CARD_TESTING = "card_testing"
SIM_SWAP = "sim_swap"
APP_SCAM = "app_scam"
MONEY_MULE = "money_mule"
PROMO_ABUSE = "promo_abuse"
FAKE_MERCHANT = "fake_merchant"
QR_SWAP = "qr_swap"
COMPROMISED_TERMINAL = "compromised_terminal"

#: A campaign that would run past the end of the period is left out if it is shorter than
#: this (so a short playbook is never half told) and cut at the end if longer (as the end of
#: any real observation window cuts long-running schemes).
CUT_CAMPAIGNS_LONGER_THAN_MS = DAY_MS


@dataclass(frozen=True, slots=True)
class LabelDelay:
    """When the partner learns that a campaign's events were fraud.

    Delays are log-uniform between `low_ms` and `high_ms`. With `per_payment` (chargebacks),
    each card payment gets its own delay from its own time, and the campaign's other events
    are labelled with its first chargeback; otherwise one report covers the whole campaign,
    counted from its last event.
    """

    low_ms: int
    high_ms: int
    #: Share of reports that never come.
    never: float
    per_payment: bool = False

    def draw(self, rng: Random) -> int | None:
        """A delay in ms, or None for a report that never comes."""
        if rng.random() < self.never:
            return None
        ratio: float = (self.high_ms / self.low_ms) ** rng.random()
        return round(self.low_ms * ratio)

    def label_times(
        self, rng: Random, events: list[tuple[int, dict[str, Any]]]
    ) -> list[int | None]:
        """`label_at` (epoch ms, or None) for each of a campaign's events."""
        if not self.per_payment:
            delay = self.draw(rng)
            if delay is None:
                return [None] * len(events)
            reported = max(t for t, _ in events) + delay
            return [reported] * len(events)
        times: list[int | None] = []
        for t, request in events:
            delay = None
            if request["event_type"] == "payment":
                delay = self.draw(rng)
            times.append(None if delay is None else t + delay)
        charged = [t for t in times if t is not None]
        first = min(charged) if charged else None
        return [
            at
            if at is not None or first is None or request["event_type"] == "payment"
            else max(first, t)
            for at, (t, request) in zip(times, events, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class Typology:
    """A fraud typology: how one campaign is built, how often it runs, when it is reported."""

    name: str
    build: Callable[[Campaign, int], None]
    #: Campaigns of this typology in each deck of `DECK` campaigns.
    cards: int
    #: Events in an average campaign (sizes the campaign rate for a fraud share).
    mean_events: float
    delay: LabelDelay
    #: Needs accounts that exist for the whole run (victims, payers, recruited mules).
    needs_customers: bool = True


#: The typologies; shares (cards) are set so that each gives a fair part of the fraud events.
TYPOLOGY_TABLE: tuple[Typology, ...] = (
    Typology(
        ACCOUNT_TAKEOVER,
        account_takeover,
        5,
        ACCOUNT_TAKEOVER_MEAN_EVENTS,
        # The victim notices the missing money within hours to a few days.
        LabelDelay(HOUR_MS, 4 * DAY_MS, never=0.05),
    ),
    Typology(
        CARD_TESTING,
        card_testing,
        3,
        CARD_TESTING_MEAN_EVENTS,
        # Cardholders dispute the charges: chargebacks 2-10 weeks later; many never notice.
        LabelDelay(14 * DAY_MS, 70 * DAY_MS, never=0.3, per_payment=True),
        needs_customers=False,
    ),
    Typology(
        SIM_SWAP,
        sim_swap,
        10,
        SIM_SWAP_MEAN_EVENTS,
        # The victim's phone loses service at once: reported within hours to days.
        LabelDelay(HOUR_MS, 3 * DAY_MS, never=0.05),
    ),
    Typology(
        APP_SCAM,
        app_scam,
        18,
        APP_SCAM_MEAN_EVENTS,
        # The victim realises it was a scam in days; some are too ashamed to report.
        LabelDelay(DAY_MS, 14 * DAY_MS, never=0.15),
    ),
    Typology(
        MONEY_MULE,
        money_mule,
        2,
        MONEY_MULE_MEAN_EVENTS,
        # Victims' reports reach the mule account weeks later, if ever.
        LabelDelay(7 * DAY_MS, 60 * DAY_MS, never=0.2),
    ),
    Typology(
        PROMO_ABUSE,
        promo_abuse,
        1,
        PROMO_ABUSE_MEAN_EVENTS,
        # The operations team's promotion review, days to weeks later.
        LabelDelay(2 * DAY_MS, 30 * DAY_MS, never=0.2),
        needs_customers=False,
    ),
    Typology(
        FAKE_MERCHANT,
        fake_merchant,
        1,
        FAKE_MERCHANT_MEAN_EVENTS,
        # Stolen-card chargebacks, 2-10 weeks after each payment.
        LabelDelay(14 * DAY_MS, 70 * DAY_MS, never=0.15, per_payment=True),
        needs_customers=False,
    ),
    Typology(
        QR_SWAP,
        qr_swap,
        2,
        QR_SWAP_MEAN_EVENTS,
        # The shop wonders where its takings went: hours to days.
        LabelDelay(2 * HOUR_MS, 3 * DAY_MS, never=0.1),
    ),
    Typology(
        COMPROMISED_TERMINAL,
        compromised_terminal,
        1,
        COMPROMISED_TERMINAL_MEAN_EVENTS,
        # Each cardholder finds their card misused and disputes it; the issuers' common-point-
        # of-purchase analysis traces the card to the terminal: per payment, days to weeks.
        LabelDelay(2 * DAY_MS, 30 * DAY_MS, never=0.2, per_payment=True),
    ),
)
TYPOLOGIES = tuple(typology.name for typology in TYPOLOGY_TABLE)
DECK = sum(typology.cards for typology in TYPOLOGY_TABLE)
MEAN_EVENTS_PER_CAMPAIGN = (
    sum(typology.cards * typology.mean_events for typology in TYPOLOGY_TABLE) / DECK
)

#: (t_ms, stream, request, (label_at, campaign id))
AttackItem = tuple[int, int, dict[str, Any], tuple[int | None, str]]


class AttackCampaigns:
    """Attack events in time order as `(t_ms, stream, request, (label_at, campaign))`;
    `stream - stream_base` indexes `TYPOLOGIES`."""

    def __init__(
        self,
        population: Population,
        *,
        seed: int,
        start_ms: int,
        end_ms: int | None,
        events_per_ms: float,
        stream_base: int,
    ) -> None:
        self._pop = population
        self._seed = seed
        self._start = start_ms
        self._end = end_ms
        self._campaigns_per_ms = events_per_ms / MEAN_EVENTS_PER_CAMPAIGN
        self._base = stream_base
        self._targets = Targets.of(population)

    def __iter__(self) -> Iterator[AttackItem]:
        if self._campaigns_per_ms <= 0:
            return
        rng = Random(f"payguard-sim:{self._seed}:campaigns")
        pending: list[tuple[int, int, int, dict[str, Any], tuple[int | None, str]]] = []
        order = 0
        number = 0
        deck: list[int] = []
        full_deck = [i for i, typology in enumerate(TYPOLOGY_TABLE) for _ in range(typology.cards)]
        without_customers = [
            i for i, typology in enumerate(TYPOLOGY_TABLE) if not typology.needs_customers
        ]
        end = self._end
        arrival: float | None = self._start + rng.expovariate(self._campaigns_per_ms)
        while True:
            # Campaign events never precede their arrival, so anything due before the next
            # arrival is final.
            if pending and (arrival is None or pending[0][0] <= arrival):
                t, _, stream, req, label = heappop(pending)
                yield t, stream, req, label
                continue
            if arrival is None:
                return
            if end is not None and arrival >= end:
                arrival = None
                continue
            if not deck:
                deck = full_deck.copy()
                rng.shuffle(deck)
            index = deck.pop()
            if TYPOLOGY_TABLE[index].needs_customers and not self._targets.victims:
                index = rng.choice(without_customers)
            typology = TYPOLOGY_TABLE[index]
            campaign = Campaign(
                Random(f"payguard-sim:{self._seed}:campaign:{number}"), self._pop, self._targets
            )
            typology.build(campaign, math.ceil(arrival))
            name = f"cmp-{self._seed}-{number:06d}"
            number += 1
            arrival += rng.expovariate(self._campaigns_per_ms)
            events = campaign.events
            if not events:
                continue
            # Labels are drawn for the whole campaign, before the end of the period cuts it.
            labels = typology.delay.label_times(campaign.rng, events)
            if end is not None:
                first = min(t for t, _ in events)
                last = max(t for t, _ in events)
                if last >= end and last - first < CUT_CAMPAIGNS_LONGER_THAN_MS:
                    continue
            stream = self._base + index
            for (t, req), label_at in zip(events, labels, strict=True):
                if end is None or t < end:
                    heappush(pending, (t, order, stream, req, (label_at, name)))
                    order += 1
