"""The CLI's training commands run on the training tests' tiny random model."""

from tests.training.conftest import tiny_model  # noqa: F401 (a fixture: pytest finds it by name)
