"""The terminal walk and symptom picker driven through text streams, and the CLI command."""

from __future__ import annotations

import io

import typer
from typer.testing import CliRunner

from bot.decision.cli import ragvsft_command
from bot.decision.terminal import run_symptoms, run_walk


def drive(tree, keys: str, fn=run_walk):
    out = io.StringIO()
    got = fn(tree, io.StringIO(keys), out)
    return got, out.getvalue()


def test_walk_to_a_recommendation(tree):
    # knowledge -> documents -> changes monthly
    got, out = drive(tree, "1\n1\n1\n")
    assert got.key == "rag"
    assert "Question 1 of up to 8: What is actually going wrong" in out
    assert "Why it matters:" in out
    assert "Recommendation: RAG" in out
    assert "Why, from your answers:" in out and "Trade-offs that matter here:" in out
    assert "Next steps:" in out
    assert out.endswith("\n")  # EOF after the result ends cleanly


def test_invalid_input_is_re_asked_with_a_hint(tree):
    got, out = drive(tree, "1\nfoo\n9\n\n1\n1\nq\n")
    assert "'foo' is not a choice: type a number from 1 to 3, b to go back" in out
    assert "'9' is not a choice" in out
    assert "'' is not a choice" in out
    assert got.key == "rag"


def test_back_changes_an_earlier_answer(tree):
    # knowledge, documents, then back at the update question and choose "a live system" instead
    got, out = drive(tree, "1\n1\nb\n2\n")
    assert out.count("Question 2 of up to 7: Where do the facts it needs live?") == 2
    assert out.count("Question 3 of up to 7: How often does that knowledge change?") == 1
    assert got.key == "neither"
    assert got.answers[-1] == ("Where do the facts it needs live?",
                               "In a live system we can query (database, API)")


def test_back_at_the_first_question(tree):
    got, out = drive(tree, "b\n4\n")
    assert "This is the first question; there is nothing to go back to." in out
    assert got.key == "neither"


def test_back_and_restart_from_the_result(tree):
    # behaviour, prompt tried, budget yes -> fine-tune; back -> budget no -> neither;
    # restart -> unsure -> neither; quit
    got, out = drive(tree, "2\n1\n1\nb\n2\nr\n4\nq\n")
    assert "Recommendation: Fine-tune" in out
    assert out.count("Recommendation: Neither yet") == 2
    assert got.key == "neither"


def test_restart_mid_walk(tree):
    got, out = drive(tree, "3\n1\nr\n4\n")
    assert out.count("Question 1 of up to 8") == 2
    assert got.key == "neither"


def test_end_of_input_mid_walk_exits_cleanly(tree):
    got, out = drive(tree, "1\n")
    assert got is None
    assert out.endswith("> \n")


def test_quit_before_the_end(tree):
    got, _ = drive(tree, "3\nq\n")
    assert got is None


def test_hybrid_through_the_terminal(tree):
    # both, documents, changes often, prompt tried, budget yes
    got, out = drive(tree, "3\n1\n1\n1\n1\n")
    assert got.key == "hybrid"
    assert "Recommendation: Both: fine-tune the behaviour, retrieve the facts" in out


def test_symptom_mode(tree):
    got, out = drive(tree, "x\n1\n", fn=run_symptoms)
    assert "'x' is not a choice: type a number from 1 to 6 or q to quit." in out
    assert got.id == "hallucinates"
    assert "Try first: RAG" in out
    assert "If that fails:" in out and "grounding" in out


def test_symptom_mode_shows_several_then_quits(tree):
    got, out = drive(tree, "4\n5\nq\n", fn=run_symptoms)
    assert got.id == "tone"
    assert "Do not train facts" in out
    assert "style guide" in out


def test_the_six_symptoms_of_the_issue(tree):
    labels = [s.label.lower() for s in tree.symptoms]
    for words in (["makes up facts", "domain"], ["output format"], ["expensive at scale"],
                  ["recent events"], ["wrong tone"], ["long documents"]):
        assert any(all(w in label for w in words) for label in labels), words


# ---- the command the lead registers in bot/cli.py ----------------------------------------------


def cli_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # makes `ragvsft` a sub-command, as in the real CLI
        pass

    app.command("ragvsft")(ragvsft_command)
    return app


def test_cli_walk_and_symptom():
    runner = CliRunner()
    res = runner.invoke(cli_app(), ["ragvsft"], input="4\n")
    assert res.exit_code == 0, res.output
    assert "Neither yet" in res.output
    res = runner.invoke(cli_app(), ["ragvsft", "--symptom"], input="3\nq\n")
    assert res.exit_code == 0, res.output
    assert "Distil" in res.output


def test_cli_broken_tree_exits_2_with_the_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: a\n")
    res = CliRunner().invoke(cli_app(), ["ragvsft", "--tree", str(bad)])
    assert res.exit_code == 2
    assert "invalid decision tree" in res.output
