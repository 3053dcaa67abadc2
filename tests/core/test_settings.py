from core.settings import Settings


def test_env_and_yaml_settings(tmp_path, monkeypatch):
    config = tmp_path / "ragtune.yaml"
    config.write_text("retrieval:\n  top_k: 9\nserver:\n  port: 9001\n")
    monkeypatch.setenv("RAGTUNE_CONFIG", str(config))
    monkeypatch.setenv("RAGTUNE_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("RAGTUNE_SERVER__PORT", "9002")  # env wins over the file
    settings = Settings()
    assert settings.retrieval.top_k == 9
    assert settings.server.port == 9002
    assert settings.kb_dir == tmp_path / "h" / "kb"
