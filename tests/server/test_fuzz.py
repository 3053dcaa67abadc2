"""Property-based fuzz of the whole OpenAPI schema (chat, models, embeddings, feedback, admin) against a
`ragtune serve` of its own (admin cases change its knowledge base and adapters, so not the shared one):
no response is a 5xx, every error is in OpenAI's shape, and every response passes all of schemathesis'
default checks (status code, content type, headers and body as the schema declares them; invalid data
refused, but for multipart parts, which reach the server as text; valid data accepted: the schema says what
the server refuses). Cases are generated from the schema by schemathesis, valid ones and invalid ones,
FUZZ_EXAMPLES of each per operation; generation is capped to a few tokens so the run stays short."""

import json
import os
import shutil
import sys
from collections import Counter
from functools import partial
from pathlib import Path

import httpx
import pytest

from core.process import free_port, server_process
from tests.server.conftest import ADMIN_KEY, CLIENT_KEY, DOCS

pytestmark = pytest.mark.slow
FUZZ_EXAMPLES = int(os.environ.get("RAGTUNE_FUZZ_EXAMPLES", "25"))
QUESTION = {"role": "user", "content": "How fast does Northwind Gadgets ship an order?"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2's, the one dimensions value the server takes
CAPS = {"max_tokens": 4, "max_completion_tokens": 4, "min_tokens": 4, "n": 2, "top_logprobs": 2}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, chat_model_path, adapter_factory):
    home = tmp_path_factory.mktemp("fuzz-home")
    adapter_factory(chat_model_path, home / "adapters" / "tiny", "tiny")
    docs = tmp_path_factory.mktemp("fuzz-docs")
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "RAGTUNE_CHAT_MODEL": chat_model_path,
        "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([CLIENT_KEY]),
        "RAGTUNE_SERVER__ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "RAGTUNE_SERVER__DEFAULT_MAX_TOKENS": "4",
        "RAGTUNE_KNOWLEDGE__SYNC_ROOTS": json.dumps([str(docs)]),
        "RAGTUNE_ENGINE__KV_CACHE_SPACE_GIB": "1",
    }
    url = f"http://127.0.0.1:{port}"
    ragtune = shutil.which("ragtune", path=str(Path(sys.executable).parent)) or "ragtune"
    with server_process(
        [ragtune, "serve", "--port", str(port)], env, home / "server.log", f"{url}/readyz", name="fuzz"
    ):
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        httpx.post(f"{url}/admin/sync", json={"folder": "."}, headers=headers, timeout=300).raise_for_status()
        yield url


def prepared(case, served: dict[str, list[str]], index: int) -> None:
    """So that valid cases reach generation: a served model (a random name stops at the 404) and a question
    last, after the generated turns or alone; no forced tool call (its JSON would not fit in a few tokens);
    what a JSON schema cannot say (the embedder's dimensions, an experiment's variants have names of their
    own) or schemathesis does not draw by (an upload's `metadata` is a JSON object: drawn as any JSON); and a
    few tokens per generation whatever the case asks for."""
    if not isinstance(case.body, dict):
        return
    if case.path in served and isinstance(case.body.get("model"), str):
        case.body["model"] = served[case.path][index % len(served[case.path])]
    if served and isinstance(case.body.get("messages"), list):
        case.body["messages"] = [QUESTION] if index % 2 else [*case.body["messages"], QUESTION]
    if served and case.body.get("tools"):
        case.body["tool_choice"] = "none"
    if served and _number(case.body.get("dimensions")):
        case.body["dimensions"] = EMBEDDING_DIMENSIONS
    if served and isinstance(case.body.get("metadata"), str):
        case.body["metadata"] = json.dumps({"note": case.body["metadata"]})
    if served and isinstance(case.body.get("variants"), list):
        for number, variant in enumerate(case.body["variants"]):
            variant["name"] = f"v{number}"
    for name, cap in CAPS.items():
        if _number(case.body.get(name)):
            case.body[name] = min(case.body[name], cap)


def _number(value) -> bool:
    """An integer as JSON has it: 4 or 4.0 (schemathesis draws both for "integer"), not a boolean."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def problems(response) -> list[str]:
    """What is wrong with one response: a 5xx, an error not in OpenAI's shape, an error event in a stream."""
    content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: lists of values
    if response.status_code >= 500:
        return [f"status {response.status_code}: {response.text[:300]}"]
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["message"]
        except (ValueError, KeyError, TypeError, AssertionError):
            return [f"status {response.status_code} not in OpenAI's error shape: {response.text[:300]}"]
    elif content_type.startswith("text/event-stream") and '"error"' in response.text:
        return [f"an error event in the stream: {response.text[-300:]}"]
    return []


class Fuzzing:
    """Sends each case (as an admin: every route is open to it) and keeps what went wrong."""

    def __init__(self, url: str, served: dict[str, list[str]]):
        self.url, self.served, self.cases, self.failures = url, served, 0, []
        self.statuses: Counter = Counter()  # (path, status class): what the cases reached

    def call(self, case, valid: bool) -> None:
        from schemathesis import checks

        prepared(case, self.served if valid else {}, self.cases)
        response = case.call(base_url=self.url, headers=ADMIN, timeout=120)
        self.cases += 1
        self.statuses[case.path, f"{response.status_code // 100}xx"] += 1
        label = f"{case.method} {case.path} {case.body if case.body is not None else ''}"[:400]
        self.failures += [f"{label}\n    {problem}" for problem in problems(response)]
        # A multipart part is text or bytes on the wire: a part drawn as a number, a boolean or an object
        # reaches the server as its text, which it may rightly take (a file holding "5")
        unseen = [] if valid or case.media_type != "multipart/form-data" else [checks.negative_data_rejection]
        try:  # schemathesis' default checks, against the schema the server serves
            case.validate_response(response, headers=ADMIN, excluded_checks=unseen)
        except (AssertionError, BaseExceptionGroup) as err:  # schemathesis' failures, grouped
            self.failures.append(f"{label}\n    {type(err).__name__}: {str(err)[:600]}")


def fuzz(operation, mode, check) -> None:
    """FUZZ_EXAMPLES cases of one operation in one mode (valid or invalid) through `check`."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases each run
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def one(case) -> None:
        check(case)

    try:
        one()
    except Unsatisfiable:  # no invalid case exists (an operation without parameters)
        pass


def test_every_generated_request_passes_the_default_checks(fuzz_server):
    import schemathesis
    from schemathesis import GenerationMode

    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    models = [m["id"] for m in httpx.get(f"{fuzz_server}/v1/models", headers=admin).json()["data"]]
    run = Fuzzing(fuzz_server, {"/v1/chat/completions": models, "/v1/embeddings": ["all-MiniLM-L6-v2"]})
    operations = [
        result.ok()
        for result in schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json").get_all_operations()
    ]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, partial(run.call, valid=mode == GenerationMode.POSITIVE))
    print(f"\nfuzz: {run.cases} cases over {len(operations)} operations, {len(run.failures)} failures")
    print("  " + ", ".join(f"{path} {status}: {n}" for (path, status), n in sorted(run.statuses.items())))
    assert len(operations) >= 20
    assert not run.failures, "\n".join(run.failures[:20])
