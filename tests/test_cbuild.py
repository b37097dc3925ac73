"""The C kernels' build cache: compiled once per machine, then loaded; what a first call compiled."""

from __future__ import annotations

import shutil

import pytest

from flowinpaint import cbuild

SOURCE = "int twice(int x) { return 2 * x; }\n"


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_a_kernel_is_compiled_once_then_loaded_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "twice.c"
    source.write_text(SOURCE)
    before = cbuild.compiled_here()
    library = cbuild.load_kernel(source, "test kernel")
    assert library is not None and library.twice(21) == 42
    assert cbuild.compiled_here() == (*before, "twice")
    assert len(list((tmp_path / "cache" / "flowinpaint").glob("twice-*.so"))) == 1
    assert cbuild.load_kernel(source, "test kernel").twice(4) == 8
    assert cbuild.compiled_here() == (*before, "twice")  # the second load found it in the cache
    source.write_text(SOURCE.replace("2 * x", "3 * x"))
    assert cbuild.load_kernel(source, "test kernel").twice(4) == 12  # a changed source is a new key
    assert cbuild.compiled_here() == (*before, "twice", "twice")


def test_a_kernel_that_does_not_compile_is_none_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "broken.c"
    source.write_text("int broken( {\n")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        assert cbuild.load_kernel(source, "broken kernel") is None
        return
    with pytest.warns(UserWarning, match="broken kernel unavailable"):
        assert cbuild.load_kernel(source, "broken kernel") is None
    assert "broken" not in cbuild.compiled_here()
