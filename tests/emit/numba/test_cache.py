"""The kernel cache trusts nothing it did not write: content-addressed entries in a private directory."""
import ast
import os
import stat
from pathlib import Path

import pytest

import symnet
from symnet.cli import main
from symnet.emit.numba import cache
from symnet.emit.numba.builder import generate

pytestmark = pytest.mark.slow  # each test compiles a kernel or runs a process

NET = symnet.Network.parse("2-2-1")


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    where = tmp_path / "cache"
    monkeypatch.setenv("SYMNET_CACHE", str(where))
    monkeypatch.setattr(cache, "_loaded", {})
    return where


def test_the_cache_is_created_private_and_named_by_the_source(private_cache):
    module = symnet.compile(NET)
    assert stat.S_IMODE(private_cache.stat().st_mode) == 0o700
    path = Path(module.__file__)
    source = generate(NET, output=cache.CACHED_NAME)
    assert path.read_text() == source
    assert path.name == f"symnet_kernel_{cache.source_key(source, 'float64')}.py"
    assert cache.source_key(source, "float32") != cache.source_key(source, "float64")


def test_a_planted_module_is_never_imported_but_regenerated(private_cache, tmp_path, capsys):
    path = cache.kernel_path(NET)
    marker = tmp_path / "pwned"
    private_cache.mkdir(mode=0o700)
    path.write_text(f"open({str(marker)!r}, 'w').close()\n")
    pycache = private_cache / "__pycache__"
    pycache.mkdir(mode=0o700)
    planted_index = pycache / f"{path.stem}.train_epoch-1.py311.nbi"
    planted_index.write_bytes(b"not numba's")
    module = symnet.compile(NET)
    assert not marker.exists()
    assert not planted_index.exists()
    assert path.read_text() == generate(NET, output=cache.CACHED_NAME)
    assert module.LAYERS == (2, 2, 1)
    assert "is not the source symnet generates; regenerating it" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe binary", b"def train_epoch(:\n"])
def test_a_corrupt_entry_is_regenerated(private_cache, content):
    path = cache.kernel_path(NET)
    private_cache.mkdir(mode=0o700)
    path.write_bytes(content)
    params = symnet.compile(NET).init_params(0)
    assert [p.shape for p in params] == [(2, 2), (2,), (2, 1), (1,)]
    assert path.read_text() == generate(NET, output=cache.CACHED_NAME)


def test_a_cache_others_can_write_is_refused_with_one_line(private_cache, capsys):
    private_cache.mkdir()
    os.chmod(private_cache, 0o777)
    with pytest.raises(cache.CacheError, match=r"others can write to it \(mode 777\); run chmod go-w"):
        symnet.compile(NET)
    assert main(["gradcheck", "2-2-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refusing the kernel cache" in err[0]


def test_a_cache_of_another_user_is_refused(private_cache, monkeypatch):
    private_cache.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(private_cache).st_uid + 1)
    with pytest.raises(cache.CacheError, match="belongs to uid .*not to you"):
        symnet.compile(NET)


def test_a_writable_numba_cache_is_refused(private_cache):
    private_cache.mkdir(mode=0o700)
    (private_cache / "__pycache__").mkdir()
    os.chmod(private_cache / "__pycache__", 0o777)
    with pytest.raises(cache.CacheError, match="refusing the Numba cache"):
        symnet.compile(NET)


def test_an_output_name_cannot_become_code():
    source = generate(NET, output="x.py\nimport os; os.system('echo pwned')\n#")
    tree = ast.parse(source)
    assert not any(isinstance(node, ast.Import) and node.names[0].name == "os" for node in tree.body)
    header = [line for line in source.splitlines() if "symnet codegen" in line]
    assert len(header) == 1 and header[0].startswith("#") and "\\n" in header[0]


def test_a_cached_kernel_is_found_by_its_index_without_a_derivation(private_cache, monkeypatch):
    first = symnet.compile(NET)
    monkeypatch.setattr(cache, "_loaded", {})
    monkeypatch.setattr(cache, "cached_source", lambda *a, **k: pytest.fail("derived and generated again"))
    again = symnet.compile(NET)
    assert again.__file__ == first.__file__
    (entry,) = private_cache.glob("symnet_index_*")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert entry.read_text().split("\n")[0] == Path(first.__file__).name


def test_an_index_entry_whose_file_changed_regenerates_the_file(private_cache, monkeypatch, tmp_path):
    path = Path(symnet.compile(NET).__file__)
    marker = tmp_path / "pwned"
    path.write_text(path.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    monkeypatch.setattr(cache, "_loaded", {})
    module = symnet.compile(NET)
    assert not marker.exists()
    assert path.read_text() == generate(NET, output=cache.CACHED_NAME)
    assert module.LAYERS == (2, 2, 1)


def test_a_change_to_the_generator_misses_the_index(private_cache, monkeypatch):
    symnet.compile(NET)
    monkeypatch.setattr(cache, "_loaded", {})
    monkeypatch.setattr(cache, "_generator_fingerprint", lambda: "another symnet")
    calls = []
    real = cache.cached_source
    monkeypatch.setattr(cache, "cached_source", lambda *a, **k: calls.append(a) or real(*a, **k))
    symnet.compile(NET)
    assert len(calls) == 1
    assert len(list(private_cache.glob("symnet_index_*"))) == 2


def test_a_defined_loss_redefined_in_another_process_misses_the_index(private_cache, monkeypatch):
    from symnet.functions import formula

    def compiled(definition: str):
        formula.define([definition])
        try:
            net = symnet.Network.parse("2-2-1", output="sigmoid", loss="myloss")
            return Path(symnet.compile(net).__file__).read_text()
        finally:
            formula.undefine("myloss")
            monkeypatch.setattr(cache, "_loaded", {})  # as a new process would start

    first = compiled("myloss(p, t) = (p - t)**2")
    second = compiled("myloss(p, t) = (p - t)**4")
    assert first != second and "**4" in second.replace(" ", "")
