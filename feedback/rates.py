"""Client keys' requests and tokens per minute kept in the feedback database's PostgreSQL, so that replicas
behind one load balancer share one budget per key (server/admission.py asks it, and falls back to its own
buckets while the database cannot answer). One row per key holds both buckets; each request is one atomic
upsert that refills them by the time passed on the database's clock (one clock for every replica), checks
and spends them, so two replicas can never both spend the last request of a minute."""

from dataclasses import dataclass

from feedback.store import PostgresStore

TABLE = """CREATE TABLE IF NOT EXISTS rate_buckets (
    name TEXT PRIMARY KEY, requests DOUBLE PRECISION, tokens DOUBLE PRECISION,
    updated DOUBLE PRECISION NOT NULL, granted BOOLEAN NOT NULL)"""
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"
# A bucket refilled evenly over the minute up to its capacity (NULL capacity: that limit is not set). Replicas'
# statements may commit out of their clock order: time never runs backwards for a bucket (GREATEST).
_REFILLED = (
    "LEAST(%({what})s::float8, COALESCE(b.{what}, %({what})s::float8)"
    f" + GREATEST(0, {_NOW} - b.updated) * %({{what}})s::float8 / 60.0)"
)
_REQUESTS, _TOKENS = _REFILLED.format(what="requests"), _REFILLED.format(what="tokens")
# The request may go when a request is left and the tokens are not overspent (tokens are charged once an
# answer is known, so they may go below zero); a charge (check false) always goes.
_GRANTED = (
    f"(NOT %(check)s::boolean OR (({_REQUESTS}) IS NULL OR ({_REQUESTS}) >= 1)"
    f" AND (({_TOKENS}) IS NULL OR ({_TOKENS}) > 0))"
)
SPEND = f"""INSERT INTO rate_buckets AS b (name, requests, tokens, updated, granted)
VALUES (%(name)s, %(requests)s::float8 - %(take_requests)s::float8, %(tokens)s::float8 - %(take_tokens)s::float8,
        {_NOW}, TRUE)
ON CONFLICT (name) DO UPDATE SET
    requests = ({_REQUESTS}) - CASE WHEN {_GRANTED} THEN %(take_requests)s::float8 ELSE 0 END,
    tokens = ({_TOKENS}) - CASE WHEN {_GRANTED} THEN %(take_tokens)s::float8 ELSE 0 END,
    updated = GREATEST(b.updated, {_NOW}),
    granted = {_GRANTED}
RETURNING requests, tokens, granted"""


@dataclass(frozen=True)
class Levels:
    """A key's buckets after a spend (None: that limit is not set) and whether the request was granted."""

    requests: float | None
    tokens: float | None
    granted: bool


class SharedRates(PostgresStore):
    """The rate buckets of every replica that names this database. Blocking, one call at a time: the server
    calls it from a thread of its own, never on the event loop."""

    connect_timeout = 2  # libpq's shortest: the caller gives up sooner and uses its own buckets meanwhile

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._created = False

    def _connect(self):
        conn = super()._connect()
        conn.autocommit = True  # one statement, one round trip: the upsert is atomic on its own
        return conn

    def spend(
        self,
        name: str,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        take_requests: float = 0.0,
        take_tokens: float = 0.0,
        check: bool = True,
    ) -> Levels:
        """Refills the key's buckets, and spends `take_*` from them if `check` is off or a request may go."""
        params = {
            "name": name,
            "requests": requests_per_minute,
            "tokens": tokens_per_minute,
            "take_requests": take_requests,
            "take_tokens": take_tokens,
            "check": check,
        }
        with self._cursor() as cursor:
            if not self._created:
                cursor.execute(TABLE)
                self._created = True
            cursor.execute(SPEND, params)
            return Levels(*cursor.fetchone())
