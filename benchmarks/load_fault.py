"""Load and faults: concurrent streaming chats while an editor uploads and syncs documents and an adapter is
loaded and unloaded, against one `ragtune serve`. Prints the failed chats (should be 0), the documents the
editor added that the knowledge base does not list afterwards (lost, should be 0), and the chats' p50 and
p95 latency alone and with the editor's work, measured in the same run.

Load: 64 chats at once (short questions, 8 new tokens, streamed, RAG on), half on the base model and half on
an adapter that stays loaded; the editor loops over: upload a text document, add a file to a synced folder
and sync it, load and unload a second adapter (a copy of the first), until the chats are done.

    python benchmarks/load_fault.py [--chats 64] [--home /tmp/ragtune-load-fault]
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
# This folder comes first on sys.path and its scripts would shadow the packages of the same name: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
QUESTIONS = ["How fast is shipping?", "Can I return a gadget?", "How much is express delivery?"]
NEW_TOKENS = 8


@dataclass
class Edits:
    uploaded: list[str] = field(default_factory=list)  # document ids
    synced: list[str] = field(default_factory=list)  # file names
    adapter_cycles: int = 0
    failures: list[str] = field(default_factory=list)


async def one_chat(client: httpx.AsyncClient, model: str, question: str) -> tuple[float, str | None]:
    """(latency, why it failed or None) of one streamed chat."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": NEW_TOKENS,
        "stream": True,
    }
    started, finish = time.perf_counter(), None
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as reply:
            if reply.status_code != 200:
                return (
                    time.perf_counter() - started,
                    f"status {reply.status_code}: {(await reply.aread())[:200]}",
                )
            async for line in reply.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    return time.perf_counter() - started, f"error event: {chunk['error']['message']}"
                finish = next((c["finish_reason"] for c in chunk["choices"] if c["finish_reason"]), finish)
    except httpx.HTTPError as err:
        return time.perf_counter() - started, f"{type(err).__name__}: {err}"
    return time.perf_counter() - started, None if finish else "the stream ended without a finish_reason"


async def chats(client: httpx.AsyncClient, models: list[str], count: int) -> list[tuple[float, str | None]]:
    return await asyncio.gather(
        *(one_chat(client, models[i % len(models)], QUESTIONS[i % len(QUESTIONS)]) for i in range(count))
    )


async def edit(admin: httpx.AsyncClient, folder: Path, flapping: str, stop: asyncio.Event) -> Edits:
    """The editor's loop until `stop`: upload, sync a folder with one more file, load and unload an adapter."""
    edits, round_ = Edits(), 0

    async def call(method: str, path: str, **kwargs) -> httpx.Response | None:
        reply = await admin.request(method, path, **kwargs)
        if reply.status_code != 200:
            edits.failures.append(f"{method} {path}: {reply.status_code} {reply.text[:200]}")
            return None
        return reply

    while not stop.is_set():
        round_ += 1
        text = f"Load note {round_}: the Orion speaker {round_} plays for {round_ + 10} hours."
        added = await call(
            "POST",
            "/admin/documents/text",
            json={"title": f"Load {round_}", "collection": "load-editor", "text": text},
        )
        if added is not None:
            edits.uploaded.append(added.json()["document_id"])
        (folder / f"note-{round_}.md").write_text(f"# Note {round_}\n\n{text}\n", encoding="utf-8")
        if await call("POST", "/admin/sync", json={"folder": str(folder), "collection": "load-synced"}):
            edits.synced.append(f"note-{round_}.md")
        loaded = await call("POST", f"/admin/adapters/{flapping}/load")
        if loaded is not None and await call("DELETE", f"/admin/adapters/{flapping}"):
            edits.adapter_cycles += 1
    return edits


async def lost_documents(admin: httpx.AsyncClient, edits: Edits) -> list[str]:
    """What the editor added (and was told succeeded) that the knowledge base does not list."""
    uploaded = (await admin.get("/admin/documents", params={"collection": "load-editor"})).json()["data"]
    synced = (await admin.get("/admin/documents", params={"collection": "load-synced"})).json()["data"]
    have_ids, have_files = {d["doc_id"] for d in uploaded}, {Path(d["source"]).name for d in synced}
    return [i for i in edits.uploaded if i not in have_ids] + [f for f in edits.synced if f not in have_files]


def summary(results: list[tuple[float, str | None]]) -> dict:
    latencies = sorted(latency for latency, _ in results)
    return {
        "chats": len(results),
        "failed": [why for _, why in results if why],
        "p50_s": statistics.median(latencies),
        "p95_s": latencies[max(0, round(0.95 * len(latencies)) - 1)],
    }


async def run(
    url: str,
    client_key: str,
    admin_key: str,
    *,
    chats_at_once: int,
    models: list[str],
    flapping: str,
    folder: Path,
) -> dict:
    """Chats alone, then the same chats with the editor at work; `flapping` names an adapter in the server's
    adapters folder that no chat uses, `folder` a folder inside its knowledge.sync_roots."""
    folder.mkdir(parents=True, exist_ok=True)
    limits = httpx.Limits(max_connections=chats_at_once + 8)
    client = httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {client_key}"}, timeout=600, limits=limits
    )
    admin = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=600)
    async with client, admin:
        await chats(client, models, min(8, chats_at_once))  # warm-up
        alone = summary(await chats(client, models, chats_at_once))
        stop = asyncio.Event()
        editor = asyncio.create_task(edit(admin, folder, flapping, stop))
        await asyncio.sleep(0.5)  # the editor's first change is under way
        busy = summary(await chats(client, models, chats_at_once))
        stop.set()
        edits = await editor
        lost = await lost_documents(admin, edits)
    return {"alone": alone, "with_editor": busy, "edits": edits, "lost": lost}


def report(figures: dict) -> None:
    edits = figures["edits"]
    for name, label in (("alone", "chats alone"), ("with_editor", "with the editor")):
        f = figures[name]
        print(
            f"  {label:<16} p50 {f['p50_s']:.2f} s, p95 {f['p95_s']:.2f} s, failed {len(f['failed'])} of {f['chats']}"
        )
        for why in f["failed"][:5]:
            print(f"    failed: {why}")
    added = len(edits.uploaded) + len(edits.synced)
    print(
        f"  editor: {len(edits.uploaded)} uploads, {len(edits.synced)} syncs, {edits.adapter_cycles} adapter "
        f"load/unload cycles, {len(edits.failures)} failed changes"
    )
    for why in edits.failures[:5]:
        print(f"    failed change: {why}")
    print(f"  lost documents: {len(figures['lost'])} of {added}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=64)
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "ragtune-load-fault")
    args = parser.parse_args()

    from benchmarks.serving import prepare_home, serving
    from core.chat_model import EMBEDDED_CHAT_MODEL, prepare_chat_model
    from core.process import free_port
    from core.settings import Settings

    model_path = prepare_chat_model(EMBEDDED_CHAT_MODEL, Settings().models_dir)
    adapter = prepare_home(args.home, model_path)  # the demo knowledge base and the adapter `bench`
    shutil.copytree(
        adapter, adapter.parent / "flapping"
    )  # served at start too; the editor reloads, unloads it
    sync_root = args.home / "sync"
    port, keys = free_port(), ("bench-client", "bench-admin")
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(args.home),
        "RAGTUNE_CHAT_MODEL": model_path,
        "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([keys[0]]),
        "RAGTUNE_SERVER__ADMIN_KEYS": json.dumps([keys[1]]),
        "RAGTUNE_KNOWLEDGE__SYNC_ROOTS": json.dumps([str(sync_root)]),
    }
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from ragtune.cli import main; main()", "serve", "--port", str(port)]
    print(
        f"load and faults: {args.chats} streaming chats at once ({NEW_TOKENS} tokens, RAG on), base and 'bench'"
    )
    with serving("ragtune serve", command, env, args.home / "server.log", url, "/readyz"):
        figures = asyncio.run(
            run(
                url,
                *keys,
                chats_at_once=args.chats,
                models=[Path(model_path).name, "bench"],
                flapping="flapping",
                folder=sync_root / "notes",
            )
        )
    report(figures)


if __name__ == "__main__":
    main()
