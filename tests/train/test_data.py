"""Data sets for training: built-in sets, CSV and NPZ files, and one clear line for every bad file."""
import numpy as np
import pytest

from symnet import Network
from symnet.train import data as ds
from symnet.errors import InputError


@pytest.mark.parametrize("name", ds.GENERATED)
def test_generated_sets_are_two_class_two_feature_and_reproducible(name):
    a, b = ds.load(name, samples=200, seed=3), ds.load(name, samples=200, seed=3)
    assert a.X.shape == (200, 2) and set(a.labels) == {0, 1}
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, ds.load(name, samples=200, seed=4).X)


def test_digits_are_scaled_to_the_unit_interval_with_ten_classes():
    d = ds.load("digits")
    assert d.X.shape == (1797, 64) and 0 <= d.X.min() and d.X.max() == 1.0
    Y = ds.encode_targets(d, Network.parse("64-32-10", output="softmax", loss="cce"))
    assert Y.shape == (1797, 10) and np.all(Y.sum(axis=1) == 1)


def test_csv_labels_are_mapped_to_one_hot_for_cce_and_zero_one_for_bce(tmp_path):
    f = tmp_path / "pets.csv"
    f.write_text("weight,height,kind\n4.0,30,cat\n30.5,60,dog\n5.1,25,cat\n")
    d = ds.load(str(f))
    assert d.classes == ["cat", "dog"] and list(d.labels) == [0, 1, 0]
    assert ds.encode_targets(d, Network.parse("2-1", output="sigmoid", loss="bce")).ravel().tolist() == [0, 1, 0]
    assert ds.encode_targets(d, Network.parse("2-2", output="softmax", loss="cce")).tolist() == [[1, 0], [0, 1], [1, 0]]


def test_csv_label_column_can_be_named_and_numeric_targets_are_regression(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("price,a,b\n1.5,1,2\n2.25,3,4\n")
    d = ds.load(str(f), label="price")
    assert not d.is_classification and d.X.tolist() == [[1, 2], [3, 4]]
    assert ds.encode_targets(d, Network.parse("2-1", output="identity")).ravel().tolist() == [1.5, 2.25]


def test_npz_with_X_and_y(tmp_path):
    f = tmp_path / "d.npz"
    np.savez(f, X=np.arange(12.0).reshape(6, 2), y=np.array([0, 1, 2, 0, 1, 2]))
    d = ds.load(str(f))
    assert d.classes == ["0", "1", "2"] and d.X.shape == (6, 2)


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("a,b,label\n", "has a header but no data rows"),
    ("a,b,label\n1,2,x\n3,y\n", "row 3 has 2 cells, the header has 3"),
    ("a,b,label\n1,2,x\n3,abc,y\n", "row 3 column 'b': 'abc' is not a number"),
    ("a,b,label\n1,nan,x\n", "row 2 column 'b': nan is not a finite number"),
    ("a,b,label\n1,inf,x\n", "row 2 column 'b': inf is not a finite number"),
])
def test_bad_csv_files_name_the_file_row_and_column(tmp_path, content, message):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(InputError) as err:
        ds.load(str(f))
    assert message in str(err.value) and "bad.csv" in str(err.value)


def test_missing_files_and_unknown_names():
    with pytest.raises(InputError, match="data file nowhere.csv does not exist"):
        ds.load("nowhere.csv")
    with pytest.raises(InputError, match="unknown data set 'mnist'"):
        ds.load("mnist")


def test_label_count_must_match_the_output_layer(tmp_path):
    d = ds.load("iris")
    with pytest.raises(InputError, match="has 3 classes but the output layer has 2 neurons; use a network with 3 outputs"):
        ds.encode_targets(d, Network.parse("4-2", output="softmax", loss="cce"))
    with pytest.raises(InputError, match="4 features but the network has 2 inputs"):
        ds.check_features(d, Network.parse("2-3", output="softmax", loss="cce"))


def test_bad_npz_files(tmp_path):
    f = tmp_path / "n.npz"
    np.savez(f, X=np.ones((3, 2)))
    with pytest.raises(InputError, match="must hold arrays 'X' and 'y'"):
        ds.load(str(f))
    np.savez(f, X=np.ones((3, 2)), y=np.ones(2))
    with pytest.raises(InputError, match="y has 2 rows but X has 3"):
        ds.load(str(f))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read"):
        ds.load(str(tmp_path / "junk.npz"))


def test_split_is_seeded_and_disjoint():
    tr, te = ds.split(100, 0.2, seed=1)
    assert len(te) == 20 and len(set(tr) | set(te)) == 100
    assert np.array_equal(ds.split(100, 0.2, seed=1)[1], te)


def test_a_parquet_table_reads_like_a_csv(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    f = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [0.5, 1.5, -2.0], "b": [1, 2, 3], "kind": ["x", "y", "x"]}), f)
    d = ds.load(str(f))
    assert d.X.tolist() == [[0.5, 1.0], [1.5, 2.0], [-2.0, 3.0]]
    assert d.classes == ["x", "y"] and d.labels.tolist() == [0, 1, 0]
    g = tmp_path / "inputs.parquet"
    pq.write_table(pa.table({"a": [0.5, 1.5], "b": [1, 2]}), g)
    unlabelled = ds.load(str(g), n_features=2)  # as predict reads inputs without labels
    assert unlabelled.X.tolist() == [[0.5, 1.0], [1.5, 2.0]] and unlabelled.labels is None


def test_a_parquet_table_with_text_features_or_nan_is_one_line(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    f = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": ["p", "q"], "y": [0, 1]}), f)
    with pytest.raises(InputError, match="column 'a' is not numeric"):
        ds.load(str(f))
    pq.write_table(pa.table({"a": [1.0, float("nan")], "y": [0, 1]}), f)
    with pytest.raises(InputError, match="row 2 column 'a' is not a finite number"):
        ds.load(str(f))
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="is not a Parquet file"):
        ds.load(str(tmp_path / "junk.parquet"))
