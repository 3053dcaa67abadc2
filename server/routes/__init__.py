"""Thin HTTP routes over the chat service, the knowledge base and the runtime."""
