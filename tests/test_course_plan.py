"""The teachers' course plan: a row for every notebook, session order, and what each session card holds."""

import pandas as pd
import pytest

from fashionlib import course_plan


def test_check_plan_names_a_notebook_without_a_row():
    course_plan.check_plan()  # today's plan covers the book
    with pytest.raises(ValueError, match="a7_modern_recipe"):
        course_plan.check_plan({k: v for k, v in course_plan.PLAN.items() if k != "a7_modern_recipe"})


def test_plan_table_orders_by_session_then_book_and_says_what_fits():
    cpu = pd.Series({"a1_improved_cnn": course_plan.CLASS_MINUTES + 1.0, "a2_models": 1.04})
    plan = course_plan.plan_table(cpu, {"a2_models": (3, "x"), "a1_improved_cnn": (3, "y"), "intro": (0, "z"),
                                        "not_a_page": (1, "w")})
    assert list(plan["stem"]) == ["intro", "not_a_page", "a1_improved_cnn", "a2_models"]
    fits = dict(zip(plan["stem"], plan["fits"]))
    assert fits == {"intro": "no cpu record yet", "not_a_page": "new: not written yet",
                    "a1_improved_cnn": f"over {course_plan.CLASS_MINUTES} min: run before class",
                    "a2_models": "fits a session"}
    assert plan.loc[plan["stem"] == "a2_models", "cpu minutes"].item() == 1.0
    assert plan.loc[plan["stem"] == "not_a_page", "notebook"].item() == "not_a_page"  # no link to a missing page


def test_sessions_card_reads_runs_and_assigns_the_study_pages():
    cpu = pd.Series({"a3_batch_size": 2.0, "a4_lr_schedules": 3.0})
    timings = pd.DataFrame([{"notebook": "a4_lr_schedules", "profile": "paper", "minutes": 61.0, "device": "cpu",
                             "cores": 2}])
    plan = course_plan.plan_table(cpu, {"a3_batch_size": (4, "x"), "a4_lr_schedules": (4, "y"), "intro": (0, "z")})
    cards = {c["session"]: c for c in course_plan.sessions(plan, cpu, timings)}
    assert cards[0]["run in class"] == "nothing to run" and cards[0]["full setting (committed record)"] == "none committed"
    four = cards[4]
    assert four["run time (cpu record)"] == "5 min"
    assert four["full setting (committed record)"] == "a4_lr_schedules: 61 min (paper, CPU x2)"
    assert four["run in class"].count("<code>python -m fashionlib run") == 2
    assert four["assign"].startswith("a3_batch_size: ") and "--out" not in four["assign"]
    minutes = course_plan.reading_minutes("a3_batch_size") + course_plan.reading_minutes("a4_lr_schedules")
    assert four["read before class"].endswith(f"(about {minutes} min)")


def test_reading_minutes_leave_code_out(tmp_path, monkeypatch):
    monkeypatch.setattr(course_plan, "NOTEBOOK_DIR", tmp_path)
    (tmp_path / "p.md").write_text("word " * 600 + "\n```{code-cell}\n" + "code " * 2000 + "\n```\n")
    assert course_plan.reading_minutes("p") == 3
    assert course_plan.first_exercise("p") == ""
    (tmp_path / "q.md").write_text("## Exercises\n\n**1. Predict the spread**\n\n"
                                   "python -m fashionlib run a3_batch_size -p seeds 3 --out /tmp/x\n")
    assert course_plan.first_exercise("q") == ("Predict the spread<br><code>python -m fashionlib run a3_batch_size "
                                               "-p seeds 3</code>")



def test_session_card_shows_every_field_in_order():
    card = {"session": 2, **{key: f"<b>{i}</b>" for i, key in enumerate(course_plan.CARD_FIELDS)}}
    html = course_plan.session_card(card)
    assert html.startswith("<p><strong>Session 2</strong><br><em>read before class</em>: <b>0</b>")
    assert html.endswith("<em>assign</em>: <b>4</b></p>")
    assert html.count("<br>") == len(course_plan.CARD_FIELDS)
