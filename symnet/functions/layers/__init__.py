"""Layer kinds, beside the activations and losses: each node of a network's graph is one of these.

``kind(name)`` finds any of them by the name a spec calls it by: the layers registered here (``dense``,
``softmax``, ``add`` — the ``+`` of two nodes —, ``concat``), every activation (``relu``, a defined
``swish``) as an element-wise node, and every loss (``cce``, a defined ``huber``) as the last node.
A new kind is a :class:`Layer` subclass registered with :func:`register`, and nothing else changes.
"""
from __future__ import annotations

from symnet.functions.activations import ACTIVATION_CLASSES, IDENTITY
from symnet.functions.layers.base import (KINDS, Layer, LayerError, Node, Option, Param, Segment, Tie, Transposed,
                                          register, transpose_rows, unregister)
from symnet.functions.layers.combine import ADD, CONCAT
from symnet.functions.layers.dense import BIAS, DENSE, MAX_UNITS, WEIGHT
from symnet.functions.layers.elementwise import Elementwise, elementwise
from symnet.functions.layers.loss import LossLayer, loss_layer
from symnet.functions.layers.softmax import SOFTMAX_KIND
from symnet.functions.losses import LOSSES


def kind(name: str) -> Layer | None:
    """The kind a spec calls ``name``: a registered layer, an activation, or a loss; None for none."""
    if name in KINDS:
        return KINDS[name]
    if name in ACTIVATION_CLASSES or name == IDENTITY:
        return elementwise(name)
    if name in LOSSES:
        return loss_layer(name)
    return None


def names() -> tuple[str, ...]:
    """Every name a node may be called by: the layers, the activations, the losses."""
    return (*KINDS, *ACTIVATION_CLASSES, IDENTITY, *LOSSES)


__all__ = ["ADD", "BIAS", "CONCAT", "DENSE", "KINDS", "MAX_UNITS", "SOFTMAX_KIND", "Elementwise", "Layer", "LayerError",
           "LossLayer", "Node", "Option", "Param", "Segment", "Tie", "Transposed", "kind", "names", "register",
           "transpose_rows", "unregister", "WEIGHT"]
