"""A/B experiments: validated, sticky per user, shared by replicas, changed and stopped without a restart."""

import asyncio
from collections import Counter

import pytest

from core.errors import ConflictError, NotFoundError, RagtuneError
from feedback.experiments import Experiments
from feedback.log import ConversationLog
from tests.feedback.conftest import feedback_service

SPEC = {
    "name": "tone-test",
    "model": "assistant",
    "variants": [
        {"name": "control", "adapter": None, "weight": 70},
        {"name": "tuned", "adapter": "support-v2", "rag": True, "system_prompt": "Be brief.", "weight": 30},
    ],
}


@pytest.fixture
def replicas(store):
    """Two server replicas on one database, each with its own log writer and cache, and one pseudonym
    secret (RAGTUNE_HOME/pseudonym.key or pii.pseudonym_secret)."""
    made = []
    for _ in range(2):
        log = ConversationLog(store, queue_size=10000, pseudonym_secret=b"replicas-share-this")
        log.start()
        made.append(Experiments(store, log, refresh_s=0.0))
    yield made
    for replica in made:
        replica.log.close()


def test_a_user_always_gets_the_same_variant(replicas):
    one, other = replicas
    one.start(SPEC)
    first = {f"user-{i}": one.assign("assistant", f"user-{i}").variant.name for i in range(200)}
    assert all(one.assign("assistant", user).variant.name == name for user, name in first.items())
    one.log.flush()
    assert all(other.assign("assistant", user).variant.name == name for user, name in first.items())


def test_shares_follow_the_weights(replicas):
    one, _ = replicas
    one.start(SPEC)
    counts = Counter(one.assign("assistant", f"user-{i}").variant.name for i in range(1000))
    assert abs(counts["control"] / 1000 - 0.70) <= 0.03
    assert abs(counts["tuned"] / 1000 - 0.30) <= 0.03
    anonymous = Counter(one.assign("assistant", None).variant.name for _ in range(1000))
    assert abs(anonymous["tuned"] / 1000 - 0.30) <= 0.05  # random per request


def test_new_weights_move_new_users_only(replicas):
    one, other = replicas
    one.start(SPEC)
    before = {f"user-{i}": one.assign("assistant", f"user-{i}").variant.name for i in range(300)}
    one.log.flush()
    changed = other.set_weights("tone-test", {"control": 1, "tuned": 99})
    assert [v.weight for v in changed.variants] == [1.0, 99.0]
    assert all(one.assign("assistant", user).variant.name == name for user, name in before.items())
    newcomers = Counter(one.assign("assistant", f"new-{i}").variant.name for i in range(300))
    assert newcomers["tuned"] > 270


def test_another_replica_sees_start_and_stop(replicas):
    one, other = replicas
    assert other.assign("assistant", "u") is None
    one.start(SPEC)
    assert other.assign("assistant", "u").experiment == "tone-test"
    assert other.models() == ["assistant"]
    stopped = one.stop("tone-test")
    assert not stopped.running
    assert other.assign("assistant", "u") is None
    assert [e.running for e in other.all()] == [False]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variants": [{"name": "only"}]}, "at least 2"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "repeated: a"),
        ({"variants": [{"name": "a", "weight": 0}, {"name": "b"}]}, "greater than 0"),
        ({"variants": [{"name": "a", "colour": "red"}, {"name": "b"}]}, "colour"),
        ({"name": "has space"}, "name"),
    ],
)
def test_invalid_experiments_are_refused_by_name(replicas, change, message):
    with pytest.raises(RagtuneError, match=message):
        replicas[0].start({**SPEC, **change})


def test_unknown_adapters_and_clashes(replicas):
    one, _ = replicas
    with pytest.raises(NotFoundError, match="support-v2"):
        one.start(SPEC, known_adapters={"demo"})
    one.start(SPEC, known_adapters={"support-v2"})
    with pytest.raises(ConflictError, match="already has a running experiment"):
        one.start({**SPEC, "name": "second"})
    with pytest.raises(ConflictError, match="exists already"):
        one.start(SPEC)
    with pytest.raises(RagtuneError, match="no variant 'nope'"):
        one.set_weights("tone-test", {"nope": 1})
    with pytest.raises(RagtuneError, match="greater than 0"):
        one.set_weights("tone-test", {"tuned": -1})
    with pytest.raises(NotFoundError):
        one.stop("never-started")
    one.stop("tone-test")
    with pytest.raises(ConflictError, match="stopped"):
        one.set_weights("tone-test", {"tuned": 2})


def test_the_event_loop_reads_the_database_only_for_new_users(tmp_path):
    service = feedback_service(tmp_path).start()
    service.experiments.start(SPEC)
    assert service.experiments.needs_database("assistant", "user-1")
    first = asyncio.run(service.assign_async("assistant", "user-1"))
    assert not service.experiments.needs_database("assistant", "user-1")  # cached from now on
    assert asyncio.run(service.assign_async("assistant", "user-1")) == first
    assert asyncio.run(service.assign_async("other-model", "user-1")) is None
    service.close()
