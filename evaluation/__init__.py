"""Evaluation: RAG-only against RAG+tuned (and base, tuned-only) on held-out questions, with intervals."""
