"""The layout of an entity's state (`EntityState.data`): every stored key, named once.

States are stored in this compact form (JSON objects with keys of one to three letters) in
SQL, Redis and the in-process cache; the keys must never change, or states already stored
would stop loading as what they are. A key an entity never needed is absent, and absent
means empty: no history, zero counters. Times are POSIX seconds; the `*_SERIES` and
`VELOCITY` values map a window name (`windows.WINDOWS`) to that window's series.
"""

from __future__ import annotations

from typing import Final

# -- every entity (account, device, ip, payee, merchant, card) ------------------------------

#: When the entity was first seen: the earliest `occurred_at` of its events.
FIRST_SEEN: Final = "fs"
#: When it was last seen: the latest `occurred_at` of its events.
LAST_SEEN: Final = "ls"
#: Its home currency, that of its first event with an amount; sums and profiles are in it.
CURRENCY: Final = "cur"
#: Its events, money events and money amount (in the home currency) per window.
VELOCITY: Final = "w"
#: Its failed logins per window (account, device and IP only).
FAILED_LOGINS: Final = "f"
#: Who and what it was seen with: dimension (`device`, `payee`, `ip`, `country`,
#: `account`, `merchant`, `card`: a card's token) → member → when last seen; capped per
#: dimension (`extractor.MEMBER_CAP`).
MEMBERS: Final = "m"
#: How many of its assessments are labelled fraud (`FRAUD_OUTCOMES`).
FRAUD_REPORTS: Final = "fr"
#: Its fraud-labelled assessments per window, bucketed by the labelled event's
#: `occurred_at` (not by when the label arrived), written when the label arrives: window
#: name (`24h`, `7d`, `30d`: `extractor.FRAUD_SPANS`) → series whose events are the frauds.
FRAUD_WINDOWS: Final = "fw"

# -- the account alone ----------------------------------------------------------------------

#: Its events of some types per window: series name (`extractor.ACCOUNT_TYPE_SERIES`) →
#: window name → series.
TYPE_SERIES: Final = "t"
#: When it was opened (its `account_open` event).
OPENED: Final = "op"
#: When its credentials last changed.
LAST_CREDENTIAL_CHANGE: Final = "lc"
#: When it last added a payee.
LAST_PAYEE_ADD: Final = "lpa"
#: When it last received a deposit.
LAST_DEPOSIT: Final = "ld"
#: Its deposits in the home currency per window (count and amount).
DEPOSITS: Final = "d"
#: When it last used a device it had not used before.
LAST_NEW_DEVICE: Final = "lnd"
#: Its payment amount profile in the home currency, `[n, mean, m2]` (Welford's running
#: mean and sum of squared deviations).
AMOUNT_PROFILE: Final = "pr"
#: Where it last was, `[lat, lon, time]`.
LAST_GEO: Final = "g"
#: Its low-risk exemptions since its last strong authentication,
#: `[count, total in minor units, currency or null, time of that authentication or null]`
#: (`payguard.risk.exemptions`); written with the decision that uses one.
EXEMPTIONS: Final = "x"

#: Every key above, for checks that the stored form stays what it was.
KEYS: Final = frozenset(
    {
        FIRST_SEEN,
        LAST_SEEN,
        CURRENCY,
        VELOCITY,
        FAILED_LOGINS,
        MEMBERS,
        FRAUD_REPORTS,
        FRAUD_WINDOWS,
        TYPE_SERIES,
        OPENED,
        LAST_CREDENTIAL_CHANGE,
        LAST_PAYEE_ADD,
        LAST_DEPOSIT,
        DEPOSITS,
        LAST_NEW_DEVICE,
        AMOUNT_PROFILE,
        LAST_GEO,
        EXEMPTIONS,
    }
)
