"""`symnet derive --pdf` without -o, and the help texts: SPEC explained, every option described."""
import pytest

from symnet.cli import cli, main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def fake_pdf(monkeypatch):
    from symnet.emit.latex import render

    monkeypatch.setattr(render, "compile_pdf", lambda tex, out_pdf, runs=2: b"%PDF-1.5 fake\n")


def test_derive_pdf_without_o_names_the_files_after_the_spec(tmp_path, monkeypatch, capsys, fake_pdf):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "derive", "2-2-1", "--pdf")
    assert (code, err) == (0, "")
    assert out == "wrote 2-2-1.tex and 2-2-1.pdf: 2-2-1 --hidden sigmoid --output sigmoid --loss mse\n"
    assert (tmp_path / "2-2-1.tex").read_text().startswith("% symnet derive 2-2-1 --hidden sigmoid --output sigmoid --loss mse -o 2-2-1.tex\n\\documentclass")
    assert (tmp_path / "2-2-1.pdf").read_bytes() == b"%PDF-1.5 fake\n"


def test_derive_pdf_without_o_uses_the_toml_files_stem(tmp_path, monkeypatch, capsys, fake_pdf):
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "tiny.toml"
    spec.write_text('layers = [1, 1]\nloss = "mse"\n')
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "derive", spec, "--pdf")
    assert (code, err) == (0, "")
    assert out.startswith("wrote tiny.tex and tiny.pdf: 1-1 ")
    assert (tmp_path / "tiny.tex").is_file() and (tmp_path / "tiny.pdf").is_file()
    assert not (tmp_path / "specs" / "tiny.tex").exists()


SPEC_COMMANDS = ["derive", "codegen", "check", "example", "train", "gradcheck"]


@pytest.mark.parametrize("args", [[]] + [[c] for c in SPEC_COMMANDS])
def test_the_group_and_every_spec_command_explain_spec_with_an_example_of_each_form(capsys, args):
    code, out, err = run(capsys, *args, "--help")
    assert (code, err) == (0, "")
    assert "N0-N1-...-NL  the layer sizes, with --hidden, --output and --loss" in out
    assert "FILE.toml     a file with the keys layers, hidden, output, loss, bias, l2 and [define]" in out
    assert f"e.g.  symnet {args[0] if args else 'derive'} 2-" in out
    assert 'e.g.  layers = [2, 2, 1]   hidden = "tanh"   loss = "mse"' in out


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_option_is_described_and_shows_its_default_one_way(name):
    for param in cli.commands[name].params:
        if isinstance(param, __import__("click").Option):
            assert param.help and param.help.strip(), (name, param.name)
            assert "(default" not in param.help and "default:" not in param.help, (name, param.name)
            default = param.default if param.default.__class__.__module__ != "click._utils" else None  # click's UNSET
            if not param.required and default not in (None, False) and not param.is_flag:
                assert param.show_default, (name, param.name)


def test_bias_is_taken_only_where_it_changes_the_result():
    takes = {name for name, c in cli.commands.items() if any(p.name == "bias" for p in c.params)}
    # derive prints it, check reads claims in its names (W1[3,1]), codegen's header names the command
    assert takes == {"derive", "check", "codegen"}


def test_bias_on_train_is_an_unknown_option(capsys):
    code, out, err = run(capsys, "train", "2-2-1", "--data", "xor", "--bias", "augmented")
    assert code == 2 and out == ""
    # click may suggest a near name ("Did you mean '--dask'?") between the two parts
    assert err.startswith("symnet: No such option '--bias'.") and err.endswith(" (see 'symnet train --help')\n")
    assert err.count("\n") == 1
