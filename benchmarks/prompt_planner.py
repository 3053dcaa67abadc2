"""ragtune's chat service without an engine, for benchmarks that want the very prompts ragtune would build
(system prompt, retrieval, excerpts, prompt contract) without generating:

    service = prompt_planner(settings, kb, model_path)
    plan = asyncio.run(service.plan(request))   # plan.prompt: messages, token_ids, sources

The project's packages are imported when it is called: this folder's scripts (rails.py) would shadow them
while the folder is still on sys.path."""


class PromptOnly:
    """Stands in for the engine where only the prompt is wanted: the chat service plans with its tokenizer."""

    name, supports = "prompt-only", frozenset()

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer


def prompt_planner(settings, kb, model_path: str):
    """A ChatService on the base model that plans requests with these settings and knowledge base."""
    from transformers import AutoTokenizer

    from rails import Rails
    from server.metrics import Metrics
    from server.runtime import Runtime
    from server.service import ChatService

    runtime = Runtime(
        settings=settings,
        engine=PromptOnly(AutoTokenizer.from_pretrained(model_path)),
        kb=kb,
        model_path=model_path,
        model_id="base",
        base_fingerprint="",
    )
    return ChatService(runtime, Metrics(), Rails(settings.rails, settings.pii))
