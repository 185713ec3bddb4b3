"""Suggestions for the prompt card, behind one small interface.

A ``Recommender`` turns what one customer bought (``CustomerHistory``) into a few
``Suggestion``s, each with a short reason a salesperson can say out loud. Two are built from the
same purchase lines:

- ``PopularRecommender`` (the plain baseline): the items most customers bought lately;
- ``CoPurchaseRecommender`` (the real one): consumables due for replenishment after their
  typical interval, items co-purchased by customers who bought the same things (item-item
  cosine similarity over who-bought-what), and new arrivals in the customer's favourite
  categories, with the popular items as a fall-back.

Both obey the same rules (``eligible``): never a product that conflicts with the customer's
allergies or dietary needs (``catalogue.Restrictions``), never one they already own unless it is
consumable, never an inactive one.

The model is built in memory from the last year of purchase lines (``build_from_db``) and kept
per database engine for ``ttl`` (``for_engine``); the card asks it for suggestions without
touching other customers' rows. ``evaluate`` measures hit rate offline (``bench/recommender.py``).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median
from typing import Protocol

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from server.db.clienteling import Purchase
from server.services import localtime
from server.services.clienteling import catalogue
from server.services.clienteling.catalogue import ProductInfo, Restrictions


@dataclass(frozen=True)
class Line:
    """One purchase line as a recommender learns from it."""

    customer_id: str
    product_id: int
    at: datetime


@dataclass(frozen=True)
class Owned:
    count: int  # lines (not units) with this product
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class CustomerHistory:
    """What a recommender may know about one customer."""

    owned: Mapping[int, Owned]
    favourite_categories: tuple[str, ...] = ()
    restrictions: Restrictions = field(default_factory=Restrictions)

    @classmethod
    def from_lines(
        cls,
        lines: Iterable[Line],
        *,
        products: Mapping[int, ProductInfo],
        restrictions: Restrictions | None = None,
        preferred_categories: Sequence[str] = (),
    ) -> CustomerHistory:
        owned: dict[int, Owned] = {}
        cats: Counter[str] = Counter()
        for line in lines:
            o = owned.get(line.product_id)
            owned[line.product_id] = (
                Owned(1, line.at, line.at)
                if o is None
                else Owned(o.count + 1, min(o.first_at, line.at), max(o.last_at, line.at))
            )
            p = products.get(line.product_id)
            if p is not None:
                cats[p.category] += 1
        return cls(owned, favourites(preferred_categories, cats), restrictions or Restrictions())


def favourites(preferred: Sequence[str], counts: Mapping[str, int], n: int = 3) -> tuple[str, ...]:
    """What the customer said they like first, then what they buy most."""
    out = list(dict.fromkeys(preferred))
    for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if name not in out:
            out.append(name)
    return tuple(out[:n])


@dataclass(frozen=True)
class Suggestion:
    product_id: int
    sku: str
    title: str
    reason: str
    kind: str  # replenish | co_purchase | new_arrival | popular
    price_cents: int
    category: str
    score: float = 0.0
    facts: tuple[tuple[str, str | int | float | None], ...] = field(
        default=(), metadata={"wire": False}
    )
    """What the reason says, as data (``reason_text`` words it in a staff language); not sent
    to tablets (``cards.encode``)."""


def _suggestion(
    p: ProductInfo, kind: str, score: float, **facts: str | int | float | None
) -> Suggestion:
    reason = reason_text(kind, facts)
    return Suggestion(
        p.id, p.sku, p.name, reason, kind, p.price_cents, p.category, score,
        tuple(sorted(facts.items())),
    )  # fmt: skip


def reason_text(
    kind: str, facts: Mapping[str, str | int | float | None], language: str = "en"
) -> str:
    """The reason a salesperson can say out loud, in the staff language (``en`` or ``nl``)."""
    nl = language == "nl"
    if kind == "popular":
        n = facts["n"]
        return (
            f"een bestseller: {n} leden kochten het onlangs"
            if nl
            else f"a best-seller: {n} members bought it lately"
        )
    if kind == "replenish":
        count = int(facts["count"] or 0)
        times = (f"{count}× gekocht, " if nl else f"bought {count}×, ") if count > 1 else ""
        ago = _ago(float(facts["since"] or 0), language)
        every = _every(float(facts["every"] or 0), language)
        if nl:
            return f"{times}laatst {ago}; meestal elke {every}"
        return f"{times}last {ago}; usually every {every}"
    if kind == "co_purchase":
        source = facts.get("source")
        if source:
            return f"vaak gekocht met de {source}" if nl else f"often bought with the {source}"
        return "klanten zoals deze kopen het" if nl else "customers like them buy it"
    if kind == "new_arrival":
        day = date.fromisoformat(str(facts["day"]))
        when = f"{day.day} {(localtime.MONTHS_NL if nl else localtime.MONTHS)[day.month - 1]}"
        category = facts["category"]
        if nl:
            return f"nieuw sinds {when} in {category}, een favoriet"
        return f"new since {when} in {category}, a favourite"
    return ""


class Recommender(Protocol):
    name: str

    def recommend(self, history: CustomerHistory, *, k: int, now: datetime) -> list[Suggestion]:
        """At most ``k`` eligible suggestions, best first, each with a reason."""


def eligible(product: ProductInfo | None, history: CustomerHistory) -> bool:
    """The rules every recommender obeys."""
    if product is None or not product.active:
        return False
    if product.id in history.owned and not product.consumable:
        return False
    return history.restrictions.allows(product)


def _ago(days: float, language: str = "en") -> str:
    nl = language == "nl"
    if days < 1:
        return "vandaag" if nl else "today"
    if days < 14:
        n = round(days)
        if nl:
            return f"{n} {'dag' if n == 1 else 'dagen'} geleden"
        return f"{n} day{'s' if n != 1 else ''} ago"
    if days < 60:
        return f"{round(days / 7)} {'weken geleden' if nl else 'weeks ago'}"
    return f"{round(days / 30.4)} {'maanden geleden' if nl else 'months ago'}"


def _every(days: float, language: str = "en") -> str:
    nl = language == "nl"
    if days < 14:
        return f"{round(days)} {'dagen' if nl else 'days'}"
    if days < 60:
        return f"{round(days / 7)} {'weken' if nl else 'weeks'}"
    return f"{round(days / 30.4)} {'maanden' if nl else 'months'}"


def _popularity(lines: Iterable[Line], since: datetime, until: datetime) -> Counter[int]:
    """Distinct customers per product in [since, until)."""
    seen: set[tuple[str, int]] = set()
    counts: Counter[int] = Counter()
    for line in lines:
        if since <= line.at < until and (line.customer_id, line.product_id) not in seen:
            seen.add((line.customer_id, line.product_id))
            counts[line.product_id] += 1
    return counts


class PopularRecommender:
    """The baseline: what most customers bought in the last ``window`` before ``now``."""

    name = "popular"

    def __init__(self, products: Mapping[int, ProductInfo], counts: Counter[int]) -> None:
        self.products = products
        self.ranked = [pid for pid, _ in counts.most_common()]
        self.counts = counts

    @classmethod
    def build(
        cls,
        lines: Sequence[Line],
        products: Mapping[int, ProductInfo],
        *,
        now: datetime,
        window: timedelta = timedelta(days=90),
    ) -> PopularRecommender:
        return cls(products, _popularity(lines, now - window, now))

    def recommend(self, history: CustomerHistory, *, k: int, now: datetime) -> list[Suggestion]:
        out: list[Suggestion] = []
        for pid in self.ranked:
            p = self.products.get(pid)
            if p is None or not eligible(p, history):
                continue
            n = self.counts[pid]
            out.append(_suggestion(p, "popular", n, n=n))
            if len(out) >= k:
                break
        return out


class CoPurchaseRecommender:
    """Replenishment, co-purchase by similar customers, new arrivals in favourite categories."""

    name = "co_purchase"

    # Weights of the three signals (one scale: a due consumable outranks a loose association).
    REPLENISH = 2.0
    CO_PURCHASE = 1.0  # the best co-purchase candidate; the others scaled to it
    NEW_ARRIVAL = 0.9
    DISCOVERY = 1  # slots kept for something the customer has not bought yet
    NEW_FOR = timedelta(days=60)
    PER_CATEGORY = 2
    DUE = (0.5, 4.0)  # suggest a consumable from half its interval to four intervals

    def __init__(
        self,
        products: Mapping[int, ProductInfo],
        neighbours: Mapping[int, list[tuple[int, float]]],
        intervals: Mapping[int, float],
        popular: PopularRecommender,
    ) -> None:
        self.products = products
        self.neighbours = neighbours
        self.intervals = intervals
        self.popular = popular
        self.new_arrivals = sorted(
            (p for p in products.values() if p.new_arrival_at is not None and p.active),
            key=lambda p: p.new_arrival_at,  # type: ignore[arg-type,return-value]
            reverse=True,
        )

    @classmethod
    def build(
        cls,
        lines: Sequence[Line],
        products: Mapping[int, ProductInfo],
        *,
        now: datetime,
        top: int = 25,
        min_support: int = 2,
        alpha: float = 0.5,
    ) -> CoPurchaseRecommender:
        baskets: dict[str, set[int]] = defaultdict(set)
        dates: dict[tuple[str, int], list[datetime]] = defaultdict(list)
        for line in lines:
            if line.at < now:
                baskets[line.customer_id].add(line.product_id)
                dates[(line.customer_id, line.product_id)].append(line.at)
        buyers: Counter[int] = Counter()
        pairs: Counter[tuple[int, int]] = Counter()
        for items in baskets.values():
            ordered = sorted(items)
            buyers.update(ordered)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    pairs[(a, b)] += 1
        near: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for (a, b), together in pairs.items():
            if together < min_support:
                continue
            # Asymmetric cosine: alpha = 0.5 is cosine; lower leans towards popular items.
            near[a].append((b, together / (buyers[a] ** (1 - alpha) * buyers[b] ** alpha)))
            near[b].append((a, together / (buyers[b] ** (1 - alpha) * buyers[a] ** alpha)))
        neighbours = {a: sorted(v, key=lambda t: -t[1])[:top] for a, v in near.items()}
        gaps: dict[int, list[float]] = defaultdict(list)
        for (_, pid), ats in dates.items():
            ats.sort()
            for x, y in itertools.pairwise(ats):
                days = (y - x).total_seconds() / 86400
                if days >= 1:
                    gaps[pid].append(days)
        intervals = {pid: median(g) for pid, g in gaps.items() if len(g) >= 3}
        popular = PopularRecommender.build(lines, products, now=now)
        return cls(products, neighbours, intervals, popular)

    def interval(self, product: ProductInfo, owned: Owned) -> float | None:
        """How often this customer runs out: their own rhythm once they bought it 3 times,
        else the catalogue's figure, else what other customers show."""
        if owned.count >= 3:
            own = (owned.last_at - owned.first_at).total_seconds() / 86400 / (owned.count - 1)
            if own >= 3:
                return own
        if product.replenish_days:
            return float(product.replenish_days)
        return self.intervals.get(product.id)

    def _replenish(self, history: CustomerHistory, now: datetime) -> list[Suggestion]:
        out = []
        for pid, owned in history.owned.items():
            p = self.products.get(pid)
            if p is None or not p.consumable or not eligible(p, history):
                continue
            every = self.interval(p, owned)
            if not every:
                continue
            since = (now - owned.last_at).total_seconds() / 86400
            due = since / every
            if not self.DUE[0] <= due <= self.DUE[1]:
                continue
            score = self.REPLENISH - abs(due - 1.0) / 2 + min(owned.count, 12) / 24
            out.append(
                _suggestion(p, "replenish", score, count=owned.count, since=since, every=every)
            )
        return out

    def _co_purchase(self, history: CustomerHistory, now: datetime) -> list[Suggestion]:
        acc: dict[int, float] = defaultdict(float)
        best: dict[int, tuple[float, int]] = {}
        for pid, owned in history.owned.items():
            weight = 1.0 / (1.0 + (now - owned.last_at).total_seconds() / 86400 / 120)
            for other, sim in self.neighbours.get(pid, ()):
                if other in history.owned:
                    continue
                acc[other] += weight * sim
                if sim > best.get(other, (0.0, 0))[0]:  # the reason names the strongest tie
                    best[other] = (sim, pid)
        out = []
        top = max(acc.values(), default=0.0)
        for pid, score in acc.items():
            p = self.products.get(pid)
            if p is None or not eligible(p, history):
                continue
            source = self.products.get(best[pid][1])
            score = self.CO_PURCHASE * score / top
            out.append(_suggestion(p, "co_purchase", score, source=source.name if source else None))
        return out

    def _new_arrivals(self, history: CustomerHistory, now: datetime) -> list[Suggestion]:
        out = []
        favourite = {c: i for i, c in enumerate(history.favourite_categories)}
        for p in self.new_arrivals:
            assert p.new_arrival_at is not None
            if p.new_arrival_at > now:
                continue
            if p.new_arrival_at < now - self.NEW_FOR:
                break
            if p.category not in favourite or not eligible(p, history):
                continue
            score = self.NEW_ARRIVAL - 0.1 * favourite[p.category]
            day = p.new_arrival_at.date().isoformat()
            out.append(_suggestion(p, "new_arrival", score, day=day, category=p.category))
        return out

    def recommend(self, history: CustomerHistory, *, k: int, now: datetime) -> list[Suggestion]:
        """Consumables that are due first, but ``DISCOVERY`` slots kept for something new
        (co-purchase or a new arrival) when there is one; popular items fill what is left."""
        due = sorted(self._replenish(history, now), key=lambda s: (-s.score, s.title))
        seen = {s.product_id for s in due}
        discovery = sorted(
            (
                s
                for s in (*self._co_purchase(history, now), *self._new_arrivals(history, now))
                if s.product_id not in seen
            ),
            key=lambda s: (-s.score, s.title),
        )
        out: list[Suggestion] = []
        per_category: Counter[str] = Counter()

        def take(candidates: Iterable[Suggestion], limit: int) -> None:
            for s in candidates:
                if len(out) >= limit:
                    return
                if per_category[s.category] >= self.PER_CATEGORY or s in out:
                    continue
                if any(o.product_id == s.product_id for o in out):
                    continue
                out.append(s)
                per_category[s.category] += 1

        take(due, max(0, k - self.DISCOVERY) if discovery else k)
        take(discovery, k)
        take(due, k)
        take(self.popular.recommend(history, k=k + len(out), now=now), k)
        return out


Builder = Callable[..., Recommender]
RECOMMENDERS: dict[str, Builder] = {
    "popular": PopularRecommender.build,
    "co_purchase": CoPurchaseRecommender.build,
}


def build(
    name: str, lines: Sequence[Line], products: Mapping[int, ProductInfo], *, now: datetime
) -> Recommender:
    try:
        builder = RECOMMENDERS[name]
    except KeyError:
        known = ", ".join(RECOMMENDERS)
        raise ValueError(f"unknown recommender {name!r}; one of {known}") from None
    return builder(lines, products, now=now)


# --- from the database ------------------------------------------------------------------------

LEARN_FROM = timedelta(days=365)


def lines_from_db(session: Session, *, since: datetime, until: datetime) -> list[Line]:
    rows = session.execute(
        select(Purchase.customer_id, Purchase.product_id, Purchase.purchased_at).where(
            Purchase.product_id.is_not(None),
            Purchase.purchased_at >= since,
            Purchase.purchased_at < until,
        )
    )
    return [Line(c, p, at) for c, p, at in rows if p is not None]


def build_from_db(session: Session, name: str, *, now: datetime) -> Recommender:
    lines = lines_from_db(session, since=now - LEARN_FROM, until=now)
    return build(name, lines, catalogue.load(session), now=now)


def history_from_db(
    session: Session,
    customer_id: str,
    *,
    restrictions: Restrictions,
    favourite_categories: Sequence[str],
) -> CustomerHistory:
    """One grouped query over the customer's lines (served by ``ix_purchases_customer_product``)."""
    rows = session.execute(
        select(
            Purchase.product_id,
            func.count(),
            func.min(Purchase.purchased_at),
            func.max(Purchase.purchased_at),
        )
        .where(Purchase.customer_id == customer_id, Purchase.product_id.is_not(None))
        .group_by(Purchase.product_id)
    )
    owned = {pid: Owned(int(n), first, last) for pid, n, first, last in rows if pid is not None}
    return CustomerHistory(owned, tuple(favourite_categories), restrictions)


class ModelCache:
    """One recommender per database, rebuilt when older than ``ttl``."""

    def __init__(self, name: str, ttl: timedelta) -> None:
        self.name = name
        self.ttl = ttl
        self._lock = threading.Lock()
        self._model: Recommender | None = None
        self._built_at: datetime | None = None

    def get(self, session: Session, *, now: datetime) -> Recommender:
        with self._lock:
            if (
                self._model is None
                or self._built_at is None
                or not (self._built_at <= now < self._built_at + self.ttl)
            ):
                self._model = build_from_db(session, self.name, now=now)
                self._built_at = now
            return self._model

    def invalidate(self) -> None:
        with self._lock:
            self._model = None


_CACHES: weakref.WeakKeyDictionary[Engine, ModelCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def for_engine(engine: Engine, name: str = "co_purchase", ttl_s: int = 600) -> ModelCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None or cache.name != name or cache.ttl != timedelta(seconds=ttl_s):
            cache = _CACHES[engine] = ModelCache(name, timedelta(seconds=ttl_s))
        return cache


def invalidate(engine: Engine) -> None:
    """After an import or a new product: the next card rebuilds the model."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
    if cache is not None:
        cache.invalidate()


# --- offline evaluation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    name: str
    customers: int
    hits: int
    k: int

    @property
    def hit_rate(self) -> float:
        return self.hits / self.customers if self.customers else 0.0


def next_baskets(
    lines: Iterable[Line], *, start: datetime, end: datetime
) -> dict[str, frozenset[int]]:
    """Each customer's first purchase in [start, end): the products of that first sale day."""
    first: dict[str, datetime] = {}
    held = [ln for ln in lines if start <= ln.at < end]
    for ln in held:
        if ln.customer_id not in first or ln.at < first[ln.customer_id]:
            first[ln.customer_id] = ln.at
    baskets: dict[str, set[int]] = defaultdict(set)
    for ln in held:
        if ln.at.date() == first[ln.customer_id].date():
            baskets[ln.customer_id].add(ln.product_id)
    return {c: frozenset(b) for c, b in baskets.items()}


def evaluate(
    recommender: Recommender,
    *,
    histories: Mapping[str, CustomerHistory],
    targets: Mapping[str, frozenset[int]],
    now: datetime,
    k: int = 3,
) -> Evaluation:
    """Hit rate: the share of customers whose next purchase contains one of the ``k``
    suggestions made for them at ``now`` (customers with no history are not counted)."""
    customers = hits = 0
    for cid, target in targets.items():
        history = histories.get(cid)
        if history is None or not history.owned:
            continue
        customers += 1
        got = {s.product_id for s in recommender.recommend(history, k=k, now=now)}
        hits += bool(got & target)
    return Evaluation(recommender.name, customers, hits, k)
