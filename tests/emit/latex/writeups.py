"""The write-ups the section tests read, each built once per test session and printed by both renderers:
the four reference articles' networks (with their values files, as generated/ has them) and the wide nets
784-256-10 and 64-128-128-128-10 (relu, softmax, cross-entropy)."""
from functools import cache

import symnet
from symnet.emit.html.page import render_writeup as html_of
from symnet.emit.latex.document import WriteUp, writeup_of
from symnet.emit.latex.render import render_writeup as latex_of
from symnet.regenerate import GENERATED, articles

ARTICLES = {a.name: a for a in articles()}
WIDE = {"784-256-10": "784-256-10", "64-128-128-128-10": "64-128-128-128-10"}
#: the nets whose write-up takes long enough (over about 1.5 s) to keep them out of the fast lane, which
#: keeps the first two articles
SLOW = {"article3_relu_softmax_momentum", "article4_two_relu_softmax", "784-256-10", "64-128-128-128-10"}
NAMES = [*ARTICLES, *WIDE]


@cache
def writeup(name: str) -> WriteUp:
    if name in ARTICLES:
        a = ARTICLES[name]
        values = GENERATED / a.values if a.values else None
        return writeup_of(symnet.derive(a.net), values, momentum=a.momentum)
    return writeup_of(symnet.derive(WIDE[name], hidden="relu", output="softmax", loss="cce"))


@cache
def latex(name: str) -> str:
    return latex_of(writeup(name))


@cache
def html(name: str) -> str:
    return html_of(writeup(name))
