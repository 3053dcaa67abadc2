"""A client key's rate shared by replicas through PostgreSQL, as two server processes hold it (an Admission
each, over one database of this test's own): one budget for both; with the database stopped every request is
still decided at once, by each process's own buckets; once it is back, the shared budget decides again."""

import asyncio
import logging

import pytest

from core.settings import ServerSettings
from feedback.rates import SharedRates
from server.admission import Admission
from server.errors import ApiError
from server.metrics import Metrics
from tests.postgres import postgres_cluster

pytestmark = pytest.mark.postgres
# A minute's requests refill one every 30 s: far longer than this test runs
WIDGET = {"key": "widget-key", "name": "widget", "rate": {"requests_per_minute": 2}}
KIOSK = {"key": "kiosk-key", "name": "kiosk", "rate": {"requests_per_minute": 2}}
DEADLINE_S = 30.0


@pytest.fixture
def cluster():
    with postgres_cluster() as started:
        yield started


async def ask(admission: Admission, key) -> str:
    """'admitted' or the 429's code; a request that waits past its deadline fails the test."""
    try:
        ticket = await asyncio.wait_for(admission.admit(key), DEADLINE_S)
    except ApiError as err:
        assert err.status == 429 and err.retry_after >= 1
        return err.code
    ticket.release()
    return "admitted"


def local_decisions(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("ragtune_rate_limit_local_total") or 0.0


def test_replicas_share_a_keys_rate_and_decide_alone_while_postgres_is_stopped(cluster, caplog):
    server = ServerSettings(client_keys=[WIDGET, KIOSK], request_timeout_s=DEADLINE_S)
    widget, kiosk = server.client_keys

    async def main() -> None:
        metrics = [Metrics(), Metrics()]
        replicas = [Admission(server, m, SharedRates(cluster.url)) for m in metrics]
        try:
            answers = [await ask(replicas[n % 2], widget) for n in range(4)]
            assert answers == ["admitted"] * 2 + ["rate_limit_exceeded"] * 2  # 2 a minute in all, not each
            assert local_decisions(metrics[0]) == local_decisions(metrics[1]) == 0

            cluster.stop()  # as a crash: the open connections drop
            alone = [await ask(replicas[0], kiosk) for _ in range(3)]
            assert alone == ["admitted", "admitted", "rate_limit_exceeded"]  # this process's own bucket
            assert await ask(replicas[1], kiosk) == "admitted"  # and the other's: limits are per process now
            assert local_decisions(metrics[0]) == 3 and local_decisions(metrics[1]) == 1
            assert "each replica applies the client keys' rates on its own" in caplog.text

            cluster.start()
            for replica in replicas:  # past the backoff after the failure, the database is asked again
                await asyncio.sleep(replica.shared.retry_in)
            assert await ask(replicas[1], widget) == "rate_limit_exceeded"  # the shared budget is still spent
            assert local_decisions(metrics[1]) == 1
            assert "answers again" in caplog.text
        finally:
            for replica in replicas:
                replica.close()

    with caplog.at_level(logging.WARNING, logger="server.admission"):
        asyncio.run(main())
