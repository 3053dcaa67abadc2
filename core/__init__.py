"""What every ragtune package shares and imports nothing of theirs: settings, error types, the prompt
contract, adapter metadata and the chat model's preparation."""
