"""Model resolution and the demo model: a missing model is one clear line."""

import pytest

from alliance_monitor.cli import main
from scoring.errors import ModelError
from scoring.models import MARKER, resolve


def test_missing_demo_model_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("ALLIANCE_MODEL_CACHE", str(tmp_path))
    monkeypatch.delenv("ALLIANCE_MODEL", raising=False)
    with pytest.raises(ModelError, match="alliance-monitor models pull-demo"):
        resolve()


def test_model_dir_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelError, match=r"has no config\.json"):
        resolve(tmp_path)


def test_score_file_without_model_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALLIANCE_MODEL_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("ALLIANCE_MODEL", raising=False)
    f = tmp_path / "t.txt"
    f.write_text("Counselor: hi\nClient: hello\n")
    assert main(["score-file", str(f), "--engine", "transformers"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "alliance-monitor models pull-demo" in err[0]


@pytest.mark.model
def test_demo_model_is_converted_and_identified(demo_model):
    assert (demo_model.path / "config.json").exists() and (demo_model.path / MARKER).exists()
    assert any(demo_model.path.glob("*.safetensors"))
    assert demo_model.name == "SmolLM2-135M-Instruct"
    assert resolve(demo_model.path) == demo_model  # any local HF directory works the same way


@pytest.mark.model
def test_pull_demo_is_idempotent(demo_model, monkeypatch, capsys):
    monkeypatch.setenv("ALLIANCE_MODEL_CACHE", str(demo_model.path.parent))
    assert main(["models", "pull-demo", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "demo model ready" in out and "little signal" in out
