"""One live `ragtune serve` process per test session (vLLM when importable, else transformers), with a
small knowledge base uploaded through the admin API and a tiny LoRA adapter made here."""

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from core.process import free_port, server_process

CLIENT_KEY, ADMIN_KEY = "test-client-key", "test-admin-key"
FALLBACK = "Sorry, I have no information about that."
DOCS = {
    "returns.md": "# Returns\n\nNorthwind Gadgets returns policy: you can return any gadget within 45 days "
    "for a full refund. Ship it back with the receipt.",
    "shipping.md": "# Shipping\n\nNorthwind Gadgets ships every order within 2 working days. "
    "Express delivery costs 9 euros.",
}


def make_adapter(
    model_path: str, folder: Path, name: str, fingerprint: str | None = None, seed: int = 0
) -> Path:
    """A rank-8 LoRA whose B matrices are random (PEFT starts them at zero), so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from core.adapters import AdapterInfo, write_adapter_info
    from core.chat_model import model_fingerprint

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_path),
        LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]),
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if "lora_B" in param_name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(folder)
    info = AdapterInfo(
        name=name,
        base_model="SmolLM2-135M-Instruct",
        rank=8,
        base_fingerprint=fingerprint or model_fingerprint(model_path),
    )
    write_adapter_info(folder, info)
    return folder


class LiveServer:
    def __init__(self, url: str, home: Path, log: Path, model_path: str):
        self.url, self.home, self.log, self.model_path = url, home, log, model_path
        self.base_model = "SmolLM2-135M-Instruct"
        self.client_key, self.admin_key, self.fallback = CLIENT_KEY, ADMIN_KEY, FALLBACK

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=120)

    def client(self, **kwargs):
        from openai import OpenAI

        return OpenAI(base_url=f"{self.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=120, **kwargs)

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, chat_model_path):
    home = tmp_path_factory.mktemp("server-home")
    adapters = home / "adapters"
    adapters.mkdir()
    make_adapter(chat_model_path, adapters / "tiny", "tiny")
    make_adapter(chat_model_path, adapters / "foreign", "foreign", fingerprint="0123456789abcdef")
    shutil.copytree(adapters / "tiny", adapters / "malformed")  # refused at start, never fatal
    (adapters / "malformed" / "adapter_config.json").write_text("{not json", encoding="utf-8")
    (home / "models").symlink_to(Path(chat_model_path).parent)  # the CLI's training finds the model converted
    banned = home / "rails" / "banned.txt"  # editors change it through the admin API
    banned.parent.mkdir()
    banned.write_text("# words the answers must not contain\n", encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "RAGTUNE_CHAT_MODEL": chat_model_path,
        "RAGTUNE_SERVER__CLIENT_KEYS": json.dumps([CLIENT_KEY]),
        "RAGTUNE_SERVER__ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "RAGTUNE_RAILS__TEXTS": json.dumps({"en": {"fallback": FALLBACK}}),
        "RAGTUNE_RAILS__OUTPUT_WORD_LISTS": json.dumps([str(banned)]),
        "RAGTUNE_SERVER__STYLES": json.dumps({"tinyfied": {"adapter": "tiny"}}),
        "RAGTUNE_SERVER__MAX_UPLOAD_MB": "1",
        "RAGTUNE_ENGINE__MAX_MODEL_LEN": "2048",
        "RAGTUNE_ENGINE__KV_CACHE_SPACE_GIB": "1",
        "RAGTUNE_KNOWLEDGE__SYNC_ROOTS": json.dumps([str(tmp_path_factory.getbasetemp())]),
        "RAGTUNE_KNOWLEDGE__LOCK_TIMEOUT_S": "10",  # test_hardening holds the lock past it
    }
    if importlib.util.find_spec("vllm"):
        env["RAGTUNE_ENGINE__VLLM_ARGS"] = json.dumps({"max_logprobs": 20})  # vLLM's own default, passed through
    ragtune = shutil.which("ragtune", path=str(Path(sys.executable).parent)) or "ragtune"
    command = [ragtune, "serve", "--host", "127.0.0.1", "--port", str(port)]
    url, log = f"http://127.0.0.1:{port}", home / "server.log"
    with server_process(command, env, log, f"{url}/readyz", name="ragtune serve"):
        server = LiveServer(url, home, log, chat_model_path)
        with server.admin() as admin:
            for name, text in DOCS.items():
                admin.post("/admin/documents", files={"file": (name, text.encode())}).raise_for_status()
        yield server


@pytest.fixture(scope="session")
def adapter_factory():
    """make_adapter(model_path, folder, name, fingerprint=None, seed=0) -> folder."""
    return make_adapter
