"""The teachers' course plan: which session reads and runs which notebook, and what each one teaches.

``PLAN`` has a row for every notebook of :data:`fashionlib.book.NOTEBOOKS` (:func:`check_plan`), so that a
notebook added to the book without a lesson fails the teachers' page. The tables below are what that page
shows: one row per notebook (:func:`plan_table`) and one card per session (:func:`sessions`, each shown by :func:`session_card`).
"""

from __future__ import annotations

import re

import pandas as pd

from .book import NOTEBOOK_DIR, NOTEBOOKS

CLASS_MINUTES = 5  # the longest cpu-profile run a class session waits for
# notebook -> (session, what students learn)
PLAN = {
    "intro": (0, "what is reproduced, how to read a paper-vs-reproduced table"),
    "a0_fashion_mnist": (1, "real data: IDX files, checksums, stratified splits, normalisation"),
    "a1_improved_cnn": (2, "reading an architecture table, output sizes, a learning-rate schedule, curves"),
    "a2_models": (3, "baselines; precision, recall, F1 per class; why Shirt is hard"),
    "a3_batch_size": (4, "a controlled experiment: one setting varied; the cpu run has one seed, so no CI (exercise 2 adds seeds)"),
    "a4_lr_schedules": (4, "an ablation: does the schedule matter, compared over the same seeds"),
    "a5_closing_the_gap": (5, "choosing a setting on validation, reporting it once on test"),
    "a6_protocol": (5, "an evaluation protocol: what may touch the test set, and when"),
    "a7_modern_recipe": (5, "architecture or recipe: one network, two recipes, paired over seeds"),
    "b0_pretraining": (6, "pretraining a backbone, and what pretrained weights bring"),
    "b1_apparel_data": (6, "long-tailed data, over/under-sampling, class weights"),
    "b2_backbones": (7, "transfer learning with timm, freezing, fair comparisons"),
    "b3_hyperparameters": (7, "a hyper-parameter table re-run at a fraction of its epochs"),
    "b4_curves": (7, "training curves: over-fitting and when to stop"),
    "performance": (8, "where the time goes: data loading, threads, batch size"),
    "run_it_yourself": (8, "papermill, profiles, -p overrides, GPUs"),
    "for_teachers": (8, "this plan"),
    "execution_report": (8, "provenance: wall time, device, commit, locked versions of every page"),
}


def check_plan(plan: dict = PLAN, notebooks=NOTEBOOKS) -> None:
    """Raise ValueError naming each notebook of the book that has no row in ``plan``."""
    missing = [n for n in notebooks if n not in plan]
    if missing:
        raise ValueError(f"course plan: no row for notebook(s) {missing}; add them to PLAN in fashionlib/course_plan.py.")


def _source(stem: str):
    """The notebook's MyST source file."""
    return NOTEBOOK_DIR / f"{stem}.md"


def plan_table(cpu_minutes: pd.Series, plan: dict = PLAN) -> pd.DataFrame:
    """One row per notebook in session order (book order within a session): its link, what students learn,
    the minutes of its newest cpu-profile run (``cpu_minutes``, by notebook) and whether that fits a session."""
    order = {n: i for i, n in enumerate(NOTEBOOKS)}
    rows = []
    for stem, (session, learn) in sorted(plan.items(), key=lambda kv: (kv[1][0], order.get(kv[0], len(order)))):
        exists = _source(stem).is_file()
        cpu = cpu_minutes.get(stem)
        if not exists:
            check = "new: not written yet"
        elif cpu is None:
            check = "no cpu record yet"
        else:
            check = f"over {CLASS_MINUTES} min: run before class" if cpu > CLASS_MINUTES else "fits a session"
        rows.append({"stem": stem, "session": session, "notebook": f'<a href="{stem}.html">{stem}</a>' if exists else stem,
                     "what students learn": learn, "cpu minutes": float("nan") if cpu is None else round(float(cpu), 1),
                     "fits": check})
    return pd.DataFrame(rows)


def reading_minutes(stem: str) -> int:
    """Words of a page's prose (code cells left out) at 200 words a minute."""
    prose = re.sub(r"```.*?```", "", _source(stem).read_text(), flags=re.S)
    return max(1, round(len(prose.split()) / 200))


def first_exercise(stem: str) -> str:
    """The first exercise of a page: its title and its command (the book's exercises change one thing)."""
    text = _source(stem).read_text()
    if "## Exercises" not in text:
        return ""
    section = text[text.index("## Exercises"):]
    title = re.search(r"\*\*1\. ([^*]+)\*\*", section)
    command = re.search(r"^python -m fashionlib run .*$", section, re.M)
    return (title[1] if title else "") + (f"<br><code>{command[0].split(' --out')[0]}</code>" if command else "")


def _full_time(stem: str, full_runs: pd.DataFrame) -> str:
    """How long the committed full-setting run of ``stem`` took, and where ("" when none)."""
    if stem not in full_runs.index:
        return ""
    r = full_runs.loc[stem]
    where = r["device"] if r["device"] != "cpu" else f"CPU x{r['cores']}"
    return f"{stem}: {r['minutes']:.0f} min ({r['profile']}, {where})"


def sessions(plan: pd.DataFrame, cpu_minutes: pd.Series, timings: pd.DataFrame) -> list[dict]:
    """One card per session of ``plan`` (:func:`plan_table`): what to read before class and for how long, the
    study notebooks to run in class, their cpu-record minutes, the committed full-setting run times (from
    ``timings``, :func:`fashionlib.report.timings_table`) and the first exercise of each to assign."""
    full_runs = timings[timings["profile"].isin(["paper", "standin"])].set_index("notebook")
    cards = []
    for session, group in plan.groupby("session"):
        stems = [s_ for s_ in group["stem"] if _source(s_).is_file()]
        study = [s_ for s_ in stems if re.match(r"[ab]\d_", s_)]
        run_min = sum(float(cpu_minutes.get(s_, 0) or 0) for s_ in study)
        exercises = {s_: first_exercise(s_) for s_ in study}
        cards.append({
            "session": session,
            "read before class": ", ".join(f'<a href="{s_}.html">{s_}</a>' for s_ in stems)
                                 + f" (about {sum(reading_minutes(s_) for s_ in stems)} min)",
            "run in class": "<br>".join(f"<code>python -m fashionlib run {s_}</code>" for s_ in study) or "nothing to run",
            "run time (cpu record)": f"{run_min:.0f} min" if run_min else "no cpu record yet",
            "full setting (committed record)": "<br>".join(t for t in (_full_time(s_, full_runs) for s_ in study) if t)
                                               or "none committed",
            "assign": "<br>".join(f"{s_}: {e}" for s_, e in exercises.items() if e) or "read and discuss",
        })
    return cards


CARD_FIELDS = ("read before class", "run in class", "run time (cpu record)", "full setting (committed record)", "assign")


def session_card(card: dict) -> str:
    """One session of :func:`sessions` as Markdown-in-HTML lines: a card rather than a wide table, which
    would not fit the page."""
    parts = [f"<strong>Session {card['session']}</strong>"] + [f"<em>{key}</em>: {card[key]}" for key in CARD_FIELDS]
    return "<p>" + "<br>".join(parts) + "</p>"
