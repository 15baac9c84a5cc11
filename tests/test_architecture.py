"""The package's shape: every concept defined in one module, no module reaching into another's privates.

The layers themselves (which stage may import which) are import-linter contracts in pyproject.toml,
checked by ``lint-imports`` in CI.
"""
import ast
import re
from pathlib import Path

from symnet.functions.activations import ACTIVATION_CLASSES, IDENTITY, SOFTMAX
from symnet.functions.layers import KINDS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symnet"


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _string_constants(tree: ast.AST) -> set[str]:
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_no_module_imports_another_modules_private_names():
    offences = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symnet"):
                offences += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")]
    assert offences == []


def test_an_activations_name_is_written_in_one_module_only():
    names = set(ACTIVATION_CLASSES) | {IDENTITY, SOFTMAX}
    written = {}
    for path in _modules():
        for name in _string_constants(ast.parse(path.read_text())) & names:
            written.setdefault(name, set()).add(path.relative_to(PACKAGE).as_posix())
    # the one exception: the width table of the line breaker knows TeX's \tanh operator (a glyph, not the activation)
    written["tanh"].discard("emit/latex/layout.py")
    assert written == {name: {"functions/activations.py"} for name in names}
    for template in (ROOT / "templates").rglob("*.j2"):
        text = template.read_text()
        assert [n for n in ACTIVATION_CLASSES if re.search(rf"\b{n}\b", text)] == [], template.name


def test_a_layer_kinds_name_is_written_in_its_definition_only():
    # softmax is also an activation (the test above); the others are the graph's own kinds
    kinds = {name: cls for name, cls in KINDS.items() if name not in ACTIVATION_CLASSES and name != SOFTMAX}
    assert {"dense", "add", "concat"} <= set(kinds)
    written = {}
    for path in _modules():
        for name in _string_constants(ast.parse(path.read_text())) & set(kinds):
            written.setdefault(name, set()).add(path.relative_to(PACKAGE).as_posix())
    written["add"].discard("verify/matrix.py")  # NumPy's np.add, read in people's code, not the kind
    assert written == {name: {cls.__module__.removeprefix("symnet.").replace(".", "/") + ".py"}
                       for name, cls in kinds.items()}
    for template in (ROOT / "templates").rglob("*.j2"):  # prose may say "a dense layer"; code may not name one
        # LLVM's and CUDA's atomic adds are not the kind
        text = re.sub(r'atomic_rmw\("add"|atomic\.add\(', "", template.read_text())
        assert [n for n in kinds if re.search(rf"""\b{n}\(|["']{n}["']""", text)] == [], template.name


def test_no_module_name_contains_numba_dot_cuda():
    # numba-cuda (the [cuda] extra) installs an import hook that redirects every module whose dotted name
    # contains "numba.cuda" to its own package, and recurses for ever on one outside Numba: a module named
    # symnet.emit.numba.cuda made `import symnet` fail wherever numba-cuda is installed
    names = [".".join(path.relative_to(ROOT).with_suffix("").parts) for path in _modules()]
    assert names and [name for name in names if "numba.cuda" in name] == []


def test_every_package_of_the_source_tree_is_in_the_wheel():
    # setuptools installs the packages pyproject.toml lists, no others: a new folder left out installs (pip
    # install .) without its modules, and `import symnet` fails on a user's machine while an editable install works
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in PACKAGE.rglob("__init__.py")}
    assert found - listed == set()
