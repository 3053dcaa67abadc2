"""What a conversation searches the knowledge base with: serving and retrieval-aware training both use it."""

from core.settings import RetrievalSettings


def retrieval_query(conversation: list[dict], settings: RetrievalSettings) -> str:
    """The last user turn, preceded by up to `query_history_turns` earlier user turns (follow-up questions
    like "and how long does it take?" need them); cut to max_query_chars from the start."""
    user_turns = [m["content"] for m in conversation if m["role"] == "user"]
    query = "\n".join(user_turns[-(settings.query_history_turns + 1) :])
    return query[-settings.max_query_chars :]
