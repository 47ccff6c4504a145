"""The generated-artifact cache: where entries live, and that an entry is built once and appears whole."""

from __future__ import annotations

import pytest

from agentgym.cache import build_once, cache_root
from agentgym.errors import AgentGymError


def test_cache_root_follows_the_argument_then_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / "env"))
    assert cache_root("alfworld") == tmp_path / "env" / "alfworld"
    assert cache_root("alfworld", tmp_path / "mine") == tmp_path / "mine"
    monkeypatch.delenv("AGENTGYM_CACHE")
    assert cache_root("textworld").parts[-3:] == (".cache", "agentgym", "textworld")


def test_an_entry_is_built_once_and_appears_only_whole(tmp_path):
    calls = []

    def build(directory):
        calls.append(directory)
        assert not (tmp_path / "game").exists(), "the entry must not be visible while it is built"
        (directory / "meta.json").write_text("{}")

    final = build_once(tmp_path / "game", "meta.json", build)
    assert (final / "meta.json").read_text() == "{}"
    assert build_once(tmp_path / "game", "meta.json", build) == final
    assert len(calls) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["game"], "no temporary directory is left behind"


def test_a_lost_race_keeps_the_winner_and_a_failed_build_leaves_nothing(tmp_path):
    def race(directory):  # another process publishes the same entry while this one builds
        (directory / "meta.json").write_text("mine")
        winner = tmp_path / "game"
        winner.mkdir()
        (winner / "meta.json").write_text("theirs")
        (winner / "other").write_text("x")  # a non-empty directory: the rename fails

    assert (build_once(tmp_path / "game", "meta.json", race) / "meta.json").read_text() == "theirs"

    def broken(directory):
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        build_once(tmp_path / "other", "meta.json", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["game"]


def test_something_else_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "game").mkdir()
    (tmp_path / "game" / "stale").write_text("from an old run")
    with pytest.raises(AgentGymError, match="left over from an old run"):
        build_once(tmp_path / "game", "meta.json", lambda d: (d / "meta.json").write_text("{}"))
