"""The st2 tier's harness (tests/stacks/real_st2.py): missing StackStorm source fails loudly, and
the re-install of this project into StackStorm's venv is keyed by the package sources' content."""
from __future__ import annotations

import pytest

from stacks import real_st2


def test_missing_stackstorm_source_is_an_error_naming_the_folder_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(real_st2.SRC_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(real_st2.StackError) as err:
        real_st2.st2_source()
    assert str(tmp_path / "nowhere") in str(err.value) and real_st2.SRC_ENV in str(err.value)
    assert "st2box/build.sh" in str(err.value)


def test_source_with_st2box_and_st2_is_accepted(tmp_path, monkeypatch):
    (tmp_path / "st2-3.9.0/st2common").mkdir(parents=True)
    (tmp_path / "st2box").mkdir()
    for script in ("build.sh", "st2box.sh"):
        (tmp_path / "st2box" / script).write_text("")
    monkeypatch.setenv(real_st2.SRC_ENV, str(tmp_path))
    assert real_st2.st2_source() == tmp_path.resolve()


def test_package_hash_follows_content_not_bytecode(tmp_path):
    for rel in real_st2.PACKAGE_SOURCES:
        path = tmp_path / rel
        if rel.endswith((".py", ".txt")):
            path.write_text("x = 1\n")
        else:
            (path / "__pycache__").mkdir(parents=True)
            (path / "mod.py").write_text("y = 2\n")
    first = real_st2.package_hash(tmp_path)
    (tmp_path / "runners/mistral_v2/__pycache__/mod.cpython-311.pyc").write_bytes(b"\0")
    assert real_st2.package_hash(tmp_path) == first
    (tmp_path / "runners/mistral_v2/mod.py").write_text("y = 3\n")
    assert real_st2.package_hash(tmp_path) != first
