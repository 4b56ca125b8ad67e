"""The simulated world: cities, merchants, customers with their devices, payees and habits.

Everything is drawn from one `random.Random`, so a seed and a customer count always give the
same population. Sets of strings are never iterated: their order changes with hash
randomisation and would break byte-identical output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from random import Random
from typing import Any

#: Share of customers whose account opens during the simulated period (they start with
#: an `account_open` event).
NEWCOMER_SHARE = 0.02
#: Sessions a day on a weekday: log-normal median and spread across customers.
SESSIONS_MEDIAN = 2.2
SESSIONS_SPREAD = 0.5
#: Share of customers whose salary is paid into the wallet, and of those paid every two weeks.
SALARIED_SHARE = 0.45
BIWEEKLY_SHARE = 0.3
#: Share of the others (and of a few salaried ones) who top the wallet up before spending.
TOP_UP_SHARE = 0.8
SALARIED_TOP_UP_SHARE = 0.15
#: Share of customers whose carrier tells the partner when their SIM last changed.
SIM_CHECK_SHARE = 0.6
#: Share of legitimate Android phones that are rooted, and of those that are emulators
#: (developers and testers).
ROOTED_SHARE = 0.03
EMULATOR_SHARE = 0.002


@dataclass(frozen=True, slots=True)
class City:
    """Where customers live and merchants trade.

    Offsets are standard time all year: the simulator does not model daylight saving.
    `usd_rate` converts a price level in US dollars into local currency; `small_unit` is what
    "one small coin" means locally (1 SGD, 100 JPY), used for tiny and round amounts.
    """

    name: str
    country: str
    lat: float
    lon: float
    utc_offset_minutes: int
    currency: str
    usd_rate: float
    small_unit: int
    qr_share: float
    names: str
    weight: float


CITIES: tuple[City, ...] = (
    City("Singapore", "SG", 1.3521, 103.8198, 480, "SGD", 1.35, 1, 0.55, "sea", 3.0),
    City("Hong Kong", "HK", 22.3193, 114.1694, 480, "HKD", 7.8, 1, 0.5, "cn", 2.0),
    City("Shanghai", "CN", 31.2304, 121.4737, 480, "CNY", 7.2, 1, 0.9, "cn", 3.0),
    City("Hangzhou", "CN", 30.2741, 120.1551, 480, "CNY", 7.2, 1, 0.9, "cn", 2.0),
    City("Tokyo", "JP", 35.6762, 139.6503, 540, "JPY", 150.0, 100, 0.35, "jp", 2.0),
    City("Seoul", "KR", 37.5665, 126.9780, 540, "KRW", 1350.0, 1000, 0.3, "kr", 1.5),
    City("Bangkok", "TH", 13.7563, 100.5018, 420, "THB", 36.0, 10, 0.8, "th", 1.5),
    City("Jakarta", "ID", -6.2088, 106.8456, 420, "IDR", 16000.0, 10000, 0.8, "sea", 1.5),
    City("Kuala Lumpur", "MY", 3.1390, 101.6869, 480, "MYR", 4.7, 1, 0.7, "sea", 1.5),
    City("Manila", "PH", 14.5995, 120.9842, 480, "PHP", 56.0, 10, 0.7, "ph", 1.5),
    City("Mumbai", "IN", 19.0760, 72.8777, 330, "INR", 83.0, 10, 0.85, "in", 2.0),
    City("London", "GB", 51.5074, -0.1278, 0, "GBP", 0.79, 1, 0.1, "eu", 1.5),
    City("Paris", "FR", 48.8566, 2.3522, 60, "EUR", 0.92, 1, 0.1, "eu", 1.0),
    City("Berlin", "DE", 52.5200, 13.4050, 60, "EUR", 0.92, 1, 0.15, "eu", 1.0),
)

_FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "cn": ("Wei", "Jing", "Hao", "Min", "Xiu", "Jun", "Yan", "Lei", "Fang", "Ying"),
    "sea": ("Siti", "Ahmad", "Nurul", "Putri", "Budi", "Arif", "Mei Ling", "Rizal", "Farah"),
    "jp": ("Yuki", "Haruto", "Sakura", "Ren", "Aoi", "Sota", "Hina", "Kaito"),
    "kr": ("Minjun", "Seoyeon", "Jiho", "Hayoon", "Doyun", "Jiwoo", "Eunji"),
    "th": ("Somchai", "Nattaya", "Kittisak", "Pimchanok", "Anan", "Siriporn"),
    "ph": ("Maria", "Jose", "Angelica", "Mark", "Kristine", "Paolo", "Joy"),
    "in": ("Aarav", "Priya", "Rohan", "Ananya", "Vikram", "Sneha", "Arjun", "Kavya"),
    "eu": ("Emma", "Lucas", "Sophie", "Oliver", "Lena", "Louis", "Amelia", "Jonas"),
}
_LAST_NAMES: dict[str, tuple[str, ...]] = {
    "cn": ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu"),
    "sea": ("Tan", "Lim", "Ng", "Rahman", "Santoso", "Wijaya", "Goh", "Abdullah", "Hassan"),
    "jp": ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto"),
    "kr": ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho"),
    "th": ("Saetang", "Srisuk", "Chaiyaporn", "Wongsa", "Boonmee", "Rattana"),
    "ph": ("Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza", "Torres"),
    "in": ("Sharma", "Patel", "Iyer", "Reddy", "Gupta", "Nair", "Mehta", "Singh"),
    "eu": ("Smith", "Martin", "Muller", "Bernard", "Schmidt", "Dubois", "Jones", "Weber"),
}


@dataclass(frozen=True, slots=True)
class MerchantCategory:
    """A merchant category code with its typical ticket size in US dollars."""

    mcc: str
    median_usd: float
    spread: float
    online: bool
    weight: float
    suffixes: tuple[str, ...]


CATEGORIES: tuple[MerchantCategory, ...] = (
    MerchantCategory("5411", 35.0, 0.7, False, 16.0, ("Mart", "Grocer", "Fresh Market")),
    MerchantCategory("5499", 8.0, 0.6, False, 14.0, ("Convenience", "24h Store", "Mini Mart")),
    MerchantCategory("5812", 25.0, 0.6, False, 12.0, ("Bistro", "Kitchen", "Dining Room")),
    MerchantCategory("5814", 9.0, 0.5, False, 14.0, ("Noodle Bar", "Kopitiam", "Burger")),
    MerchantCategory("5541", 45.0, 0.4, False, 3.0, ("Fuel", "Petrol", "Service Station")),
    MerchantCategory("4111", 3.0, 0.4, False, 8.0, ("Metro", "Transit", "Bus Line")),
    MerchantCategory("5912", 18.0, 0.7, False, 4.0, ("Pharmacy", "Chemist", "Drugstore")),
    MerchantCategory("5311", 60.0, 0.9, False, 3.0, ("Department Store", "Plaza")),
    MerchantCategory("5691", 55.0, 0.8, False, 3.0, ("Boutique", "Apparel", "Outfitters")),
    MerchantCategory("5732", 180.0, 1.0, False, 1.0, ("Electronics", "Digital", "Gadgets")),
    MerchantCategory("4121", 14.0, 0.6, True, 6.0, ("Rides", "Cab", "Go")),
    MerchantCategory("5999", 40.0, 1.0, True, 8.0, ("Shop Online", "Marketplace", "Direct")),
    MerchantCategory("5818", 10.0, 0.8, True, 3.0, ("Games", "Apps", "Credits")),
    MerchantCategory("4899", 12.0, 0.3, True, 2.0, ("Stream", "Play", "TV")),
    MerchantCategory("4814", 15.0, 0.5, True, 3.0, ("Mobile Top-up", "Telecom", "Reload")),
    MerchantCategory("8398", 20.0, 0.8, True, 0.5, ("Foundation", "Relief Fund", "Charity")),
)
_PHYSICAL = tuple(c for c in CATEGORIES if not c.online)
_ONLINE = tuple(c for c in CATEGORIES if c.online)
_MERCHANT_PREFIXES = (
    "Golden", "Lucky", "Sunrise", "Harbour", "Lotus", "Jade", "Maple", "Orchid",
    "Pearl", "Crown", "Metro", "Urban", "Blue Sky", "Red Lantern", "Silver", "Green Leaf",
)  # fmt: skip

#: Public promotion codes; newcomers (and promotion abusers) also use referral codes.
PUBLIC_PROMO_CODES = ("WELCOME10", "FIRSTPAY", "NEWUSER5", "SCAN2WIN")


def referral_code(account_id: str) -> str:
    """The referral code an account hands out to friends."""
    return f"REF-{account_id[-6:].upper()}"


_EMPLOYER_SUFFIXES = ("Holdings", "Logistics", "Hospital", "Bank", "Engineering", "Foods")

#: A city is split into districts so "near home" is cheap: usual shops come from the home one.
DISTRICTS_PER_CITY = 6


@dataclass(frozen=True, slots=True)
class Merchant:
    """A shop (paid by QR or NFC at its location) or an online merchant (paid in app or web)."""

    id: str
    name: str
    category: MerchantCategory
    city: City | None
    district: int
    lat: float
    lon: float

    def wire(self) -> dict[str, str]:
        return {"id": self.id, "mcc": self.category.mcc, "name": self.name}


@dataclass(frozen=True, slots=True)
class Device:
    """A phone (uses the app) or a browser (uses the web channel) with a stable fingerprint.

    `rooted` and `emulator` are the posture the partner's app reports with every event.
    """

    id: str
    fingerprint: str
    os: str
    kind: str
    rooted: bool = False
    emulator: bool = False

    def wire(self) -> dict[str, str]:
        return {"id": self.id, "fingerprint": self.fingerprint}

    def posture(self) -> dict[str, Any]:
        """The device attributes sent with each event: the OS, and root or emulator flags."""
        posture: dict[str, Any] = {"os": self.os}
        if self.rooted:
            posture["rooted"] = True
        if self.emulator:
            posture["emulator"] = True
        return posture


@dataclass(frozen=True, slots=True)
class Payee:
    """Someone money can be sent to: another customer's wallet or an outside bank account."""

    id: str
    name: str
    account: str

    def wire(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "account": self.account}


@dataclass(frozen=True, slots=True)
class Card:
    """A funding card, known only by BIN and last four digits as a partner would send it."""

    bin: str
    last4: str

    def attributes(self) -> dict[str, Any]:
        return {"funding": "card", "card_bin": self.bin, "card_last4": self.last4}


@dataclass(frozen=True, slots=True)
class Customer:
    """One wallet account holder and the habits their legitimate traffic follows."""

    position: int
    account_id: str
    name: str
    city: City
    district: int
    home_lat: float
    home_lon: float
    devices: tuple[Device, ...]
    home_ips: tuple[str, ...]
    #: Multiplies every amount; log-normal like incomes are.
    spending_level: float
    sessions_per_day: float
    as_payee: Payee
    payees: tuple[Payee, ...]
    merchants: tuple[Merchant, ...]
    online_merchants: tuple[Merchant, ...]
    cards: tuple[Card, ...]
    bank_account: str
    #: For newcomers, when in the period the account opens (0 to 1); None for existing accounts.
    opens_at: float | None
    #: How the salary is paid into the wallet: "monthly", "biweekly" or None (paid elsewhere).
    pay_cycle: str | None = None
    #: Day of the month (1-28) for a monthly salary; day of the fortnight (0-13) for biweekly.
    pay_day: int = 1
    #: Who pays the salary (the counterparty of salary deposits); None without a pay cycle.
    employer: Payee | None = None
    #: Tops the wallet up from a bank account or card before spending.
    tops_up: bool = False
    #: The partner learns when this customer's SIM last changed (a carrier SIM-swap check).
    sim_check: bool = False


@dataclass(frozen=True, slots=True)
class Population:
    """Everyone and everything the traffic refers to."""

    customers: tuple[Customer, ...]
    merchants_by_city: dict[str, tuple[Merchant, ...]]
    online_merchants: tuple[Merchant, ...]
    #: Outside mule accounts that takeovers, SIM swaps and scams pay out to; reused across
    #: campaigns, as mules are in practice.
    mules: tuple[Payee, ...]
    ips_by_city: dict[str, tuple[str, ...]]
    #: Hosting and VPN exit addresses: attackers favour them, a few travellers use them too.
    hosting_ips: tuple[str, ...]
    #: Customers by account id (a customer's wallet is a payee whose id is its account id).
    accounts: dict[str, Customer] = field(default_factory=dict)


def documentation_ips() -> tuple[str, ...]:
    """Every host address in the three documentation ranges (RFC 5737), in a fixed order."""
    return tuple(
        f"{net}.{host}" for net in ("192.0.2", "198.51.100", "203.0.113") for host in range(1, 255)
    )


def _ip_plan() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Split the documentation ranges into one block per city plus a hosting block.

    Keeping each address in one place means IP-to-geo stays consistent, as with real
    geolocation databases.
    """
    addresses = documentation_ips()
    hosting, rest = addresses[-42:], addresses[:-42]
    size = len(rest) // len(CITIES)
    by_city = {city.name: rest[i * size : (i + 1) * size] for i, city in enumerate(CITIES)}
    return by_city, hosting


def random_hex(rng: Random, bits: int) -> str:
    """`bits` random bits as fixed-width lowercase hex."""
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def person_name(rng: Random, city: City) -> str:
    """A plausible full name for someone from `city`."""
    return f"{rng.choice(_FIRST_NAMES[city.names])} {rng.choice(_LAST_NAMES[city.names])}"


def account_number(rng: Random) -> str:
    """A 12-digit account number."""
    return str(rng.randrange(10**11, 10**12))


def new_device(
    rng: Random,
    *,
    kind: str,
    os: str | None = None,
    rooted: bool | None = None,
    emulator: bool = False,
) -> Device:
    """A device never seen before; without `rooted`, a few Android phones come rooted, as
    enthusiasts' phones do."""
    if os is None:
        if kind == "phone":
            os = "ios" if rng.random() < 0.45 else "android"
        else:
            os = "macos" if rng.random() < 0.35 else "windows"
    if rooted is None:
        rooted = os == "android" and rng.random() < ROOTED_SHARE
    return Device(
        id=f"dev-{random_hex(rng, 64)}",
        fingerprint=random_hex(rng, 128),
        os=os,
        kind=kind,
        rooted=rooted,
        emulator=emulator,
    )


def card_bin(rng: Random) -> str:
    """A six-digit BIN on a Visa- or Mastercard-like range."""
    return f"{rng.choice('45')}{rng.randrange(10**5):05d}"


def _district_centre(city: City, district: int) -> tuple[float, float]:
    angle = 2 * math.pi * district / DISTRICTS_PER_CITY
    return city.lat + 0.06 * math.sin(angle), city.lon + 0.06 * math.cos(angle)


def _merchant(rng: Random, category: MerchantCategory, city: City | None) -> Merchant:
    district = rng.randrange(DISTRICTS_PER_CITY)
    lat = lon = 0.0
    if city is not None:
        lat, lon = _district_centre(city, district)
        lat += rng.gauss(0, 0.01)
        lon += rng.gauss(0, 0.01)
    return Merchant(
        id=f"mer-{random_hex(rng, 48)}",
        name=f"{rng.choice(_MERCHANT_PREFIXES)} {rng.choice(category.suffixes)}",
        category=category,
        city=city,
        district=district,
        lat=lat,
        lon=lon,
    )


def _weighted(rng: Random, categories: tuple[MerchantCategory, ...]) -> MerchantCategory:
    return rng.choices(categories, weights=[c.weight for c in categories])[0]


def build_population(*, seed: int, customers: int) -> Population:
    """The population for `seed`: `customers` account holders plus merchants, mules and IPs."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    rng = Random(f"payguard-sim:{seed}:population")
    ips_by_city, hosting_ips = _ip_plan()

    share = customers / sum(c.weight for c in CITIES)
    merchants_by_city = {
        city.name: tuple(
            _merchant(rng, _weighted(rng, _PHYSICAL), city)
            for _ in range(max(12, round(share * city.weight / 20)))
        )
        for city in CITIES
    }
    online_merchants = tuple(
        _merchant(rng, _weighted(rng, _ONLINE), None) for _ in range(max(24, customers // 100))
    )
    mules = tuple(
        Payee(
            id=f"pye-{random_hex(rng, 48)}",
            name=person_name(rng, rng.choice(CITIES)),
            account=account_number(rng),
        )
        for _ in range(max(5, customers // 250))
    )

    # Identities first, so that usual payees can point at other customers.
    seen_ids: set[str] = set()
    homes = rng.choices(CITIES, weights=[c.weight for c in CITIES], k=customers)
    identities: list[tuple[str, str, Payee]] = []
    for city in homes:
        account_id = f"acc-{random_hex(rng, 48)}"
        while account_id in seen_ids:
            account_id = f"acc-{random_hex(rng, 48)}"
        seen_ids.add(account_id)
        name = person_name(rng, city)
        # Wallet-to-wallet transfers name the receiving wallet by its account id.
        payee = Payee(id=account_id, name=name, account=account_number(rng))
        identities.append((account_id, name, payee))
    by_city: dict[str, list[int]] = {}
    for i, city in enumerate(homes):
        by_city.setdefault(city.name, []).append(i)
    # Big employers pay many customers, so "one counterparty, many accounts" is not only mules.
    employers = {
        city.name: tuple(
            Payee(
                id=f"pye-{random_hex(rng, 48)}",
                name=f"{rng.choice(_MERCHANT_PREFIXES)} {rng.choice(_EMPLOYER_SUFFIXES)}",
                account=account_number(rng),
            )
            for _ in range(max(3, len(by_city.get(city.name, ())) // 40))
        )
        for city in CITIES
    }
    by_district: dict[tuple[str, int], list[Merchant]] = {}
    for name, shops in merchants_by_city.items():
        for shop in shops:
            by_district.setdefault((name, shop.district), []).append(shop)

    people: list[Customer] = []
    for i, city in enumerate(homes):
        account_id, name, as_payee = identities[i]
        district = rng.randrange(DISTRICTS_PER_CITY)
        lat, lon = _district_centre(city, district)
        phone = new_device(rng, kind="phone")
        if phone.os == "android" and rng.random() < EMULATOR_SHARE:
            phone = replace(phone, emulator=True)
        devices = [phone]
        if rng.random() < 0.3:
            devices.append(new_device(rng, kind="browser"))
        city_block = ips_by_city[city.name]
        home_ips = tuple(rng.choice(city_block) for _ in range(1 + (rng.random() < 0.4)))
        neighbours = by_city[city.name]
        payees: list[Payee] = []
        for _ in range(rng.randint(1, 6)):
            other = rng.choice(neighbours)
            if other != i and rng.random() < 0.8:
                payees.append(identities[other][2])
            else:
                payees.append(
                    Payee(
                        id=f"pye-{random_hex(rng, 48)}",
                        name=person_name(rng, city),
                        account=account_number(rng),
                    )
                )
        shops = merchants_by_city[city.name]
        nearby = by_district.get((city.name, district)) or shops
        usual = tuple(
            rng.choice(nearby) if rng.random() < 0.8 else rng.choice(shops)
            for _ in range(rng.randint(4, 12))
        )
        pay_cycle = None
        if rng.random() < SALARIED_SHARE:
            pay_cycle = "biweekly" if rng.random() < BIWEEKLY_SHARE else "monthly"
        people.append(
            Customer(
                position=i,
                account_id=account_id,
                name=name,
                city=city,
                district=district,
                home_lat=lat + rng.gauss(0, 0.01),
                home_lon=lon + rng.gauss(0, 0.01),
                devices=tuple(devices),
                home_ips=home_ips,
                spending_level=min(rng.lognormvariate(0.0, 0.6), 8.0),
                sessions_per_day=min(
                    max(rng.lognormvariate(math.log(SESSIONS_MEDIAN), SESSIONS_SPREAD), 0.3), 12.0
                ),
                as_payee=as_payee,
                payees=tuple(payees),
                merchants=usual,
                online_merchants=tuple(
                    rng.choice(online_merchants) for _ in range(rng.randint(1, 4))
                ),
                cards=tuple(
                    Card(card_bin(rng), f"{rng.randrange(10**4):04d}")
                    for _ in range(rng.choice((0, 1, 1, 2)))
                ),
                bank_account=account_number(rng),
                opens_at=rng.random() if rng.random() < NEWCOMER_SHARE else None,
                pay_cycle=pay_cycle,
                employer=None if pay_cycle is None else rng.choice(employers[city.name]),
                pay_day=rng.randint(1, 28) if pay_cycle == "monthly" else rng.randrange(14),
                tops_up=rng.random() < (SALARIED_TOP_UP_SHARE if pay_cycle else TOP_UP_SHARE),
                sim_check=rng.random() < SIM_CHECK_SHARE,
            )
        )
    return Population(
        customers=tuple(people),
        accounts={c.account_id: c for c in people},
        merchants_by_city=merchants_by_city,
        online_merchants=online_merchants,
        mules=mules,
        ips_by_city=ips_by_city,
        hosting_ips=hosting_ips,
    )
