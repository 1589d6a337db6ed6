"""The teacher-led class under AppTest, driven by widget keys: a teacher session and student
sessions of one app sharing the class database (SQLite here; tests/test_class_browser.py runs
two servers on PostgreSQL)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.selection import Keys

APP = str(Path(__file__).resolve().parent.parent / "app.py")
KEY = "teacher-secret-key"


@pytest.fixture(autouse=True)
def _class_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FPE_TEACHER_KEY", KEY)
    from ui import state as ui_state

    ui_state.teacher_key.clear()  # this test's key, not one a former test cached


def _app(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(f"views/{page}.py")
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def _teacher() -> tuple[AppTest, str]:
    t = _app("teach", key=KEY)
    assert "key" not in t.query_params  # never left in the address bar
    _button(t, "class_start").click().run()
    code = next(m.body for m in t.markdown if "class-code" in m.body).split(">")[1][:4]
    return t, code


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def test_without_the_key_teach_explains_and_offers_no_controls() -> None:
    at = _app("teach")
    assert "console of the server" in at.info[0].body
    assert {b.key for b in at.button} >= {"teacher_open"}
    assert not {"class_start", "class_ask", "class_end"} & {b.key for b in at.button}
    for n in range(5):
        at.text_input(key=Keys.teacher_key).input(f"guess-{n}")
        _button(at, "teacher_open").click().run()
        assert "not the teacher key" in at.error[0].value
    at.text_input(key=Keys.teacher_key).input(KEY)
    _button(at, "teacher_open").click().run()  # right, but too late from this browser
    assert "Too many wrong keys from this browser" in at.error[0].value
    assert "class_start" not in {b.key for b in at.button}
    # The teacher's browser, from the same address (a class behind one router): not held.
    teacher = _app("teach")
    teacher.text_input(key=Keys.teacher_key).input(KEY)
    _button(teacher, "teacher_open").click().run()
    assert "class_start" in {b.key for b in teacher.button}


def test_followers_mirror_the_teacher_step_away_and_rejoin() -> None:
    t, code = _teacher()
    t.switch_page("views/forward.py").run()
    _button(t, "next_step").click().run()
    t.sidebar.toggle(key=Keys.train).set_value(True).run()
    t.sidebar.number_input(key=Keys.dropout_seed).set_value(7).run()

    # (AppTest reruns the page it was opened on, so the follower opens the teacher's page;
    # tests/test_class_browser.py sees a follower taken from page to page)
    s = _app("forward", follow="1", **{"class": code.lower()})
    assert not _errors(s)
    assert s.session_state[Keys.follow] and s.session_state[Keys.follow_code] == code
    assert s.session_state[Keys.step] == 1 and s.session_state[Keys.train]
    assert s.session_state[Keys.dropout_seed] == 7
    assert _button(s, "next_step").disabled
    # the sidebar says what the teacher chose instead of greying out controls
    assert Keys.train not in {w.key for w in s.sidebar.toggle}
    teacher_view = " ".join(m.value for m in s.sidebar.markdown)
    assert "**MNIST CNN**" in teacher_view and "Train mode · dropout seed 7" in teacher_view
    assert "sample digit #0, a 0" in teacher_view

    _button(t, "next_step").click().run()
    t.sidebar.selectbox(key=Keys.sample).set_value(5).run()
    s.run()
    assert s.session_state[Keys.step] == 2 and s.session_state[Keys.sample] == 5
    assert "sample digit #5" in " ".join(m.value for m in s.sidebar.markdown)

    _button(s, "step_away").click().run()  # explore alone: the teacher's moves pass by
    assert not s.session_state[Keys.follow] and not _button(s, "next_step").disabled
    # the controls are back, on the teacher's choices (kept while they were not drawn)
    assert s.sidebar.toggle(key=Keys.train).value and not s.sidebar.toggle(key=Keys.train).disabled
    assert s.sidebar.selectbox(key=Keys.sample).value == 5
    assert s.sidebar.number_input(key=Keys.dropout_seed).value == 7
    _button(t, "next_step").click().run()
    s.run()
    assert s.session_state[Keys.step] == 2
    _button(s, "rejoin").click().run()  # one click back
    assert s.session_state[Keys.step] == 3 and s.session_state[Keys.follow]


def test_the_class_answers_a_question_and_the_teacher_sees_it_come_in() -> None:
    t, code = _teacher()
    t.switch_page("views/forward.py").run()
    for _ in range(2):
        _button(t, "next_step").click().run()  # step 2: the max-pool
    assert "your students follow this view" in " ".join(c.value for c in t.caption)
    students = [_app("forward", follow="1", **{"class": code}) for _ in range(3)]
    t.switch_page("views/teach.py").run()
    t.segmented_control(key=Keys.ask_kind).set_value("winner").run()
    _button(t, "class_ask").click().run()
    assert not _errors(t)
    # Teach is not mirrored: the class stays on the page the teacher showed last, and a
    # student joining now is taken there (not left on the page the link opened).
    from ui import state as ui_state

    assert ui_state.classes().get(code).view["page"] == "forward"
    captions = " ".join(c.value for c in t.caption)
    assert "your students stay on **Forward pass**, the page you showed last" in captions
    picks = []
    for n, s in enumerate(students):
        s.run()
        cells = [b for b in s.button if (b.key or "").startswith("class_pick_")]
        assert len(cells) == 4  # a 2x2 window
        if n == 0:
            s.text_input(key=Keys.nickname).input("Ada")
        pick = cells[0 if n < 2 else 1]
        picks.append(pick.label)
        pick.click().run()
        assert not _errors(s)
        assert "Wait for the teacher" in " ".join(c.value for c in s.caption)
    t.run()
    headline = next(m.body for m in t.markdown if "class-headline" in m.body)
    assert "67% think row 0, column 0" in headline
    _button(t, "class_reveal").click().run()
    for s in students:
        s.run()
        assert s.success or s.warning  # each student's own graded feedback
    rows = list(csv.DictReader(io.StringIO(_csv(t))))
    assert [r["student"] for r in rows] == ["Ada", "student 2", "student 3"]
    assert [r["answer"] for r in rows] == picks


def _csv(t: AppTest) -> str:
    from explorer.classroom.answers import answers_csv
    from ui import state as ui_state

    store = ui_state.classes()
    code = t.session_state[Keys.leading]
    qs = store.questions(code)
    return answers_csv(qs, {q.id: store.answers(q.id) for q in qs})


def test_a_second_teacher_takes_over_and_an_ended_class_lets_students_go() -> None:
    t1, code = _teacher()
    t2 = _app("teach", key=KEY)
    assert f"take_{code}" in {b.key for b in t2.button}  # two teachers: not silently both
    s = _app("forward", follow="1", **{"class": code})
    _button(t2, f"take_{code}").click().run()
    t1.switch_page("views/forward.py").run()  # the class's page already: nothing to publish
    _button(t1, "next_step").click().run()  # the first teacher is told, publishes nothing
    assert any("another teacher now leads" in w.body for w in t1.warning)
    s.run()
    assert s.session_state[Keys.step] == 0
    _button(t2, "class_end").click().run()
    s.run()
    assert not s.session_state[Keys.follow]
    assert any(f"Class {code} has ended" in i.body for i in s.info)
    late = _app("forward", follow="1", **{"class": code})
    assert any("has ended" in w.body for w in late.warning)


def test_a_follow_link_without_a_class_says_so() -> None:
    s = _app("forward", follow="1")
    assert any("No class is running" in w.body for w in s.warning)
    assert not s.session_state[Keys.follow]


def test_saved_networks_have_owners_on_build() -> None:
    t = _app("build", key=KEY)
    t.text_input(key="build_name").set_value("Class CNN").run()
    _button(t, "build_save").click().run()
    assert any("Saved" in m.body for m in t.success)
    s = _app("build")
    s.text_input(key="build_name").set_value("class cnn").run()
    s.checkbox(key="build_overwrite").check().run()
    _button(s, "build_save").click().run()
    assert any("is the teacher's" in e.value for e in s.error)
    assert "build_remove" not in {b.key for b in s.button}  # not the student's to remove
    t.run()
    _button(t, "build_remove").click().run()
    assert "build_pick" not in {sb.key for sb in t.selectbox}


@pytest.mark.postgres
def test_a_database_that_goes_away_mid_class_leaves_everyone_served(monkeypatch) -> None:
    from pg_server import binaries, postgres_server
    from test_class_store import _server_of

    if binaries() is None:
        pytest.skip("PostgreSQL is not installed")
    with postgres_server() as url:
        monkeypatch.setenv("FPE_DATABASE_URL", url)
        t, code = _teacher()
        t.switch_page("views/forward.py").run()
        s = _app("forward", follow="1", **{"class": code})
        assert s.session_state[Keys.follow]
        server = _server_of(url)
        server.stop()
        _button(t, "next_step").click().run()  # the teacher is told; the page still works
        assert any("class link is lost" in w.body for w in t.warning)
        assert t.session_state[Keys.step] == 1 and not _errors(t)
        s.run()
        assert any("class link is lost" in w.body for w in s.warning)
        assert s.title[0].value.startswith("The forward pass") and not s.exception
        server.start()
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the pool reconnects with a back-off
            _button(t, "next_step").click().run()
            s.run()
            if (
                not any("lost" in w.body for w in s.warning)
                and s.session_state[Keys.step] == t.session_state[Keys.step]
            ):
                break
            time.sleep(1)
        assert s.session_state[Keys.step] == t.session_state[Keys.step] >= 2
        from ui import state as ui_state

        ui_state._database.clear()  # this server's pool closes with the test
