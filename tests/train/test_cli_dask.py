"""`symnet train --dask`: one line and exit 2 without dask; dask never imported by `import symnet`;
a local cluster trains what the single-process run trains, from loaded data or from shard files."""
import subprocess
import sys

import numpy as np
import pytest

from symnet.cli import main

CCE = ["2-8-2", "--hidden", "tanh", "--output", "softmax", "--loss", "cce"]


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_without_dask_one_line_names_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    code, out, err = run(capsys, "train", *CCE, "--data", "moons", "--dask", "local:2", "--quiet")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "pip install 'symnet[dask]'" in err


def test_import_symnet_does_not_import_dask():
    code = "import sys, symnet, symnet.cli, symnet.train.distributed; print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_bad_addresses_are_one_line(capsys):
    pytest.importorskip("distributed")
    code, _, err = run(capsys, "train", *CCE, "--data", "moons", "--dask", "local:0", "--quiet")
    assert code == 2 and "local:N" in err
    code, _, err = run(capsys, "train", *CCE, "--data", "nothing_here_*.npz", "--dask", "local:1", "--quiet")
    assert code == 2 and "matches no file" in err


@pytest.mark.slow
def test_local_cluster_matches_the_single_process_run(capsys, tmp_path):
    pytest.importorskip("distributed")
    common = ["train", *CCE, "--data", "moons", "--samples", "200", "--epochs", "2", "--lr", "0.3", "--quiet"]
    code, single, _ = run(capsys, *common)
    assert code == 0
    code, spread, _ = run(capsys, *common, "--dask", "local:2", "--save", tmp_path / "m.npz")
    assert code == 0 and (tmp_path / "m.npz").exists()
    # the same batches and updates: the same test accuracy and loss, to the digits printed
    assert single.split(" s/epoch")[0].rsplit(",", 1)[0] == spread.split(" s/epoch")[0].rsplit(",", 1)[0]
    # shard files, each read by a worker
    rng = np.random.default_rng(0)
    for k in range(3):
        X = rng.normal(size=(40, 2))
        np.savez(tmp_path / f"part{k}.npz", X=X, y=(X[:, 0] > 0).astype(int))
    code, out, err = run(capsys, "train", *CCE, "--data", tmp_path / "part*.npz", "--epochs", "2", "--dask",
                         "local:2", "--quiet")
    assert code == 0, err
    assert "on 3 shards: 2 epochs, test accuracy" in out
