"""The gemm layout's steps (symnet.emit.numba.steps): each block a function, shared by the layers that do
the same step, so that a deeper net adds calls, not code to compile."""
import re

import numpy as np
import pytest

import symnet
from symnet import Network
from symnet.emit.numba.builder import generate

from tests.emit.numba.test_builder import check_against_derivation, kernel_cache  # noqa: F401


def functions(source: str) -> set[str]:
    return set(re.findall(r"@numba\.njit\(.*\)\ndef (\w+)\(", source))


def deep(hidden: int, width: int = 6) -> Network:
    return Network.build([3] + [width] * hidden + [2], ["tanh"] * hidden, "softmax", "cce")


def test_hidden_layers_share_their_steps_and_deeper_nets_add_no_functions():
    names = {n: {re.sub(r"\d+(to\d+)?(_\d+(to\d+)?)*$", "", f) for f in functions(generate(deep(n), "gemm"))}
             for n in (3, 8)}
    assert names[3] == names[8]
    source = generate(deep(8), "gemm")
    steps = functions(source)
    assert {"_layer1", "_layer2to8", "_layer9", "_delta1to8", "_grad_W2to9", "_update_W2to9",
            "_momentum_W1to9", "_sgd_b1to9"} <= steps
    assert len(steps) == len(functions(generate(deep(3), "gemm")))
    # the step is written in the layer's own names; each call passes that layer's arrays and widths
    assert "def _layer2to8(a_prev, B, W, h, n, b, a):" in source
    assert "_layer2to8(a4, B, W5, h5, W5.shape[1], b5, a5)" in source
    assert "# layer 5, forward: h5[j] = b5[j] + Sum(W5[i, j]*a4[i], (i, 1, n4))" in source


def test_a_hyperparameter_with_digits_keeps_its_name():
    source = generate(deep(3), "gemm", optimizer="adam")
    assert "def _adam_W1to4(n_prev, n, mW, beta1, gW, sW, beta2, step, W, lr, eps):" in source


@pytest.mark.slow
def test_a_step_shared_by_layers_of_different_widths_computes_each_exactly():
    net = Network.build([3, 5, 4, 7, 2], ["tanh", "sigmoid", "tanh"], "softmax", "cce")
    assert "_delta1to3" not in generate(net, "gemm")  # σ′ is not tanh′: layer 2's δ has its own step
    check_against_derivation(net, "gemm")
    check_against_derivation(Network.build([3, 5, 4, 7, 2], ["tanh"] * 3, "sigmoid", "bce"), "gemm")


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_shared_step_compiles_once_whatever_the_widths(optimizer):
    net = Network.build([4, 9, 5, 6, 3], ["tanh"] * 3, "softmax", "cce")
    kernel = symnet.compile(net, "gemm", optimizer=optimizer)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 4)), np.eye(3)[rng.integers(0, 3, 20)]
    params = kernel.init_params(0)
    if optimizer == "sgd":
        kernel.train_epoch(params, X, Y, 0.1, 8, momentum=0.9)
        kernel.train_epoch(params, X, Y, 0.1, 8)
    else:
        kernel.train_epoch(params, X, Y, 0.01, 8)
    shared = [f for name, f in vars(kernel).items() if re.fullmatch(r"_\w+\d+to\d+", name)]
    assert len(shared) >= 4
    # widths 9, 5, 6, 3 reach each step as int64, not as four literal types: one machine code for all
    kernel.gradients(params, X, Y)
    assert all(len(f.signatures) == 1 for f in shared), {f.__name__: f.signatures for f in shared}
    assert all(np.isfinite(p).all() for p in params)


def test_a_step_keeps_its_temporaries_names_and_passes_a_layers_own_widths():
    source = generate(deep(3), "gemm")
    assert "acc_prev" not in source and "acc_next" not in source
    assert "_momentum_W1to4(W2.shape[0], W2.shape[1], W2, vW2)" in source


def test_a_defined_function_named_like_a_step_is_refused_in_one_line():
    from symnet.errors import InputError
    from symnet.functions import formula

    formula.define(["layer1(x) = x*sigmoid(x)"])  # undefined after the test (tests/conftest.py)
    with pytest.raises(InputError, match="the defined function 'layer1' would be the kernel's own function "
                                         "_layer1: define it under another name"):
        generate(Network.build([3, 20, 2], ["layer1"], "softmax", "cce"), "gemm")


@pytest.mark.slow
def test_a_single_row_with_a_row_stride_of_zero_is_a_row_to_blas():
    net = Network.build([3, 20, 20, 2], ["tanh", "tanh"], "softmax", "cce")
    kernel = symnet.compile(net, "gemm")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=3), np.array([0.0, 1.0])
    params = kernel.init_params(0)
    # the case itself: NumPy gives x[None] a row stride of 0 and still calls it C-contiguous, so no copy is made
    assert x[None].strides[0] == 0 and x[None].flags.c_contiguous
    np.testing.assert_array_equal(kernel.forward(params, x[None]), kernel.forward(params, x.reshape(1, 3).copy()))
    assert kernel.loss(params, x[None], y[None]) == kernel.loss(params, x.reshape(1, 3).copy(), y.reshape(1, 2).copy())
    for a, b in zip(kernel.gradients(params, x[None], y[None]), kernel.gradients(params, x.reshape(1, 3).copy(),
                                                                                  y.reshape(1, 2).copy())):
        np.testing.assert_array_equal(a, b)
    # and a product whose shapes do not match is an error, not a read past an array's end
    with pytest.raises(ValueError, match="do not make a product"):
        kernel._dot(np.ones((4, 3)), np.ones((2, 5)), np.empty((4, 5)))


def test_a_defined_function_named_like_a_gpu_module_function_is_refused_too():
    from symnet.emit.numba.gpu import generate_cuda
    from symnet.errors import InputError
    from symnet.functions import formula

    formula.define(["epoch(x) = x*sigmoid(x)"])  # _epoch is the GPU module's one-launch epoch
    with pytest.raises(InputError, match="the defined function 'epoch' would be the kernel's own function _epoch"):
        generate_cuda(Network.build([3, 4, 2], ["epoch"], "softmax", "cce"))
