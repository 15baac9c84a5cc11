"""A derivation shows its lemmas and chain table as HTML in Jupyter."""
from html.parser import HTMLParser

import pytest

import symnet
from symnet.emit.html.notebook import TABLE_ROWS, derivation_html


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_the_first_articles_derivation_is_a_table_of_its_nine_chains_with_the_sigmoid_lemma():
    html = derivation_html(symnet.derive("2-2-1"))
    cells = Cells()
    cells.feed(html)
    assert cells.tags.count("tr") == 1 + 9 and cells.tags.count("math") >= 1 + 3 * 9
    assert "sigmoid′(x)" in html and "9 parameters" in html
    # ∂E/∂W⁽¹⁾₁₁'s chain has the article's four factors joined by ⋅ then the fifth, ∂h⁽¹⁾₁/∂W⁽¹⁾₁₁
    first_chain = html.split("<tr>")[2].split("</td>")[1]
    assert first_chain.count("&#x22C5;") == 4


@pytest.mark.slow  # the derivation of 2,410 parameters
def test_a_wide_network_lists_its_first_parameters_and_counts_the_rest():
    html = derivation_html(symnet.derive("64-32-10", hidden="relu", output="softmax", loss="cce"))
    assert html.count("<tr>") == 1 + TABLE_ROWS
    assert f"… and {2410 - TABLE_ROWS:,} more" in html
