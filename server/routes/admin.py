"""Admin API (admin keys): documents in the knowledge base and the served adapters.

Uploads are size- and type-limited; a client's file name is reduced to a bare name and only ever
used to pick the loader (by extension) and as the document's title, never as a path. A sync reads only
folders inside knowledge.sync_roots. Changes run on the knowledge base's own writer thread
(app.state.kb_writer), one at a time, never on the threads that chat requests search with.
"""

import asyncio
import dataclasses
import json
import re
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam

from server.auth import admin_key
from server.errors import ApiError
from server.protocol import NO_NUL, RollbackRequest, SyncRequest, TextDocument
from server.runtime import ADAPTER_NAME, Runtime

router = APIRouter(prefix="/admin", dependencies=[Depends(admin_key)])
DocumentRef = Annotated[str, PathParam(max_length=4096, pattern=NO_NUL)]  # an id, a source or a file
AdapterName = Annotated[str, PathParam(pattern=ADAPTER_NAME.pattern)]  # a folder under RAGTUNE_HOME/adapters
# An upload's parts as the schema declares them: the file's name picks its loader (by extension), its
# content holds text, and `metadata` is a JSON object
DocumentFile = Annotated[
    UploadFile, File(description="A document, not blank", json_schema_extra={"pattern": r"\S"})
]
Metadata = Annotated[
    str | None,
    Form(
        description="Metadata for the document, a JSON object",
        json_schema_extra={"contentMediaType": "application/json", "contentSchema": {"type": "object"}},
    ),
]
_FILE_NAME = {
    "description": "The file's name; its extension is one of server.upload_types and picks how it is read",
    "schema": {"type": "string", "example": 'form-data; name="file"; filename="returns.md"'},
}
UPLOAD = {
    "requestBody": {
        "content": {
            "multipart/form-data": {"encoding": {"file": {"headers": {"Content-Disposition": _FILE_NAME}}}}
        }
    }
}


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime


def safe_file_name(name: str | None, allowed: list[str]) -> str:
    bare = PurePosixPath((name or "").replace("\\", "/")).name
    bare = re.sub(r"[^\w.\- ]", "_", bare).strip(" .") or "upload.txt"
    suffix = PurePosixPath(bare).suffix.lower()
    if suffix not in allowed:
        raise ApiError(
            415,
            f"file '{bare}': type '{suffix or 'none'}' not accepted (accepted: {', '.join(allowed)})",
            param="file",
            code="unsupported_file_type",
        )
    return bare


async def _read_upload(request: Request, file: UploadFile) -> tuple[str, bytes]:
    server = _rt(request).settings.server
    name = safe_file_name(file.filename, server.upload_types)
    limit = server.max_upload_mb * 1024 * 1024
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(
            413,
            f"file '{name}': larger than the upload limit of {server.max_upload_mb} MB",
            param="file",
            code="file_too_large",
        )
    return name, data


def _metadata(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ApiError(400, f"metadata: not valid JSON: {err}", param="metadata") from err
    if value is not None and not isinstance(value, dict):  # null: none, as when the field is not sent
        raise ApiError(400, "metadata: must be a JSON object", param="metadata")
    return value


async def _write(request: Request, change, *args, **kwargs):
    """A knowledge-base change, on the writer thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app.state.kb_writer, partial(change, *args, **kwargs))


async def _add(request: Request, name: str, data: bytes, collection, metadata, doc_id=None) -> dict:
    kb = _rt(request).kb
    doc = await _write(
        request, kb.add_document, name, data, collection=collection, metadata=metadata, doc_id=doc_id
    )
    return {"document_id": doc, "version": kb.version}


@router.get("/documents")
async def documents(request: Request, collection: str | None = None) -> dict:
    return {"data": await asyncio.to_thread(_rt(request).kb.documents, collection)}


@router.post("/documents", openapi_extra=UPLOAD)
async def upload_document(
    request: Request,
    file: DocumentFile,
    collection: Annotated[str | None, Form()] = None,
    metadata: Metadata = None,
) -> dict:
    name, data = await _read_upload(request, file)
    return await _add(request, name, data, collection, _metadata(metadata))


@router.post("/documents/text")
async def add_text(request: Request, body: TextDocument) -> dict:
    stem = PurePosixPath(body.title.replace("\\", "/")).name.strip(" .") or "document"  # a title of dots
    name = safe_file_name(f"{stem}.txt", [".txt"])
    metadata = {"title": body.title, **body.metadata}
    return await _add(request, name, body.text.encode("utf-8"), body.collection, metadata)


@router.put("/documents/{doc_id}", openapi_extra=UPLOAD)
async def replace_document(
    request: Request,
    doc_id: DocumentRef,
    file: DocumentFile,
    collection: Annotated[str | None, Form()] = None,
    metadata: Metadata = None,
) -> dict:
    name, data = await _read_upload(request, file)
    return await _add(request, name, data, collection, _metadata(metadata), doc_id)


@router.delete("/documents/{doc_id}")
async def delete_document(request: Request, doc_id: DocumentRef) -> dict:
    kb = _rt(request).kb
    await _write(request, kb.remove, doc_id)
    return {"deleted": doc_id, "version": kb.version}


@router.post("/sync")
async def sync(request: Request, body: SyncRequest) -> dict:
    """Mirror a folder inside knowledge.sync_roots into a collection (a relative folder is looked up under
    the roots); with no roots configured the API syncs nothing."""
    roots = request.app.state.settings.knowledge.sync_roots
    if not roots:
        raise ApiError(
            403,
            "sync: no folder may be synced through the API; an operator lists the allowed folders in "
            "RAGTUNE_KNOWLEDGE__SYNC_ROOTS (knowledge.sync_roots)",
            param="folder",
            code="sync_roots_not_configured",
        )
    kb = _rt(request).kb
    report = await _write(
        request,
        kb.sync,
        Path(body.folder),
        collection=body.collection,
        progress=False,
        roots=roots,
        dry_run=body.dry_run,
        allow_mass_removal=body.allow_mass_removal,
    )
    return {"report": dataclasses.asdict(report), "version": kb.version}


@router.get("/versions")
async def versions(request: Request) -> dict:
    kb = _rt(request).kb
    return {"live": kb.version, "data": await asyncio.to_thread(kb.versions)}


@router.post("/rollback")
async def rollback(request: Request, body: RollbackRequest) -> dict:
    kb = _rt(request).kb
    await _write(request, kb.rollback, body.version)
    return {"live": kb.version}


@router.get("/adapters")
async def adapters(request: Request) -> dict:
    rt = _rt(request)
    await rt.follow_shared()
    return {
        "data": [info.model_dump() for info in rt.adapters.values()],
        "refused": [{"name": name, "reason": why} for name, why in rt.refused.items()],
        # served, but the newer version another replica loaded fails here (tried again later)
        "reload_failed": [{"name": name, "reason": why} for name, why in rt.reload_failed.items()],
    }


@router.post("/adapters/{name}/load")
async def load_adapter(request: Request, name: AdapterName) -> dict:
    info = await _rt(request).load_adapter(name)
    return {"loaded": name, "adapter": info.model_dump()}


@router.delete("/adapters/{name}")
async def unload_adapter(request: Request, name: AdapterName) -> dict:
    await _rt(request).unload_adapter(name)
    return {"unloaded": name}
