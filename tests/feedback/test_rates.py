"""Client keys' rates in PostgreSQL: replicas (each a SharedRates of its own, as each server process has) share
one budget per key, exactly, also when they ask at the same moment."""

import threading
import time
import uuid

import pytest

from feedback.rates import SharedRates

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(postgres_url):
    made = [SharedRates(postgres_url) for _ in range(4)]
    yield made
    for rates in made:
        rates.close()


def test_replicas_share_one_keys_requests_per_minute(replicas):
    key = f"widget-{uuid.uuid4().hex[:8]}"
    granted = [replicas[n % 2].spend(key, 3, None, take_requests=1).granted for n in range(6)]
    assert granted == [True, True, True, False, False, False]  # 3 in all, not 3 per replica
    other = replicas[1].spend(f"other-{key}", 3, None, take_requests=1)
    assert other.granted and other.requests == pytest.approx(2, abs=0.1)  # each key its own budget


def test_replicas_asking_at_once_never_overspend(replicas):
    key, per_minute, tries = f"burst-{uuid.uuid4().hex[:8]}", 40, 20
    granted: list[bool] = []
    start = threading.Barrier(len(replicas))

    def ask(rates: SharedRates) -> None:
        start.wait()
        granted.extend(rates.spend(key, per_minute, None, take_requests=1).granted for _ in range(tries))

    began = time.monotonic()
    threads = [threading.Thread(target=ask, args=(rates,)) for rates in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refilled = (time.monotonic() - began) * per_minute / 60  # what the minute gave back meanwhile
    assert len(granted) == len(replicas) * tries
    assert per_minute <= sum(granted) <= per_minute + refilled + 1


def test_tokens_spent_past_the_budget_refuse_the_next_request_without_spending_it(replicas):
    key = f"thrifty-{uuid.uuid4().hex[:8]}"
    first = replicas[0].spend(key, 10, 100, take_requests=1)
    assert first.granted and first.tokens == pytest.approx(100, abs=1)
    charged = replicas[1].spend(key, 10, 100, take_tokens=150, check=False)  # the answer was long
    assert charged.granted and charged.tokens < 0
    refused = replicas[0].spend(key, 10, 100, take_requests=1)
    assert not refused.granted and refused.tokens < 0
    assert refused.requests == pytest.approx(first.requests, abs=0.1)  # the refused request cost nothing
