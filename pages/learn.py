"""Learn: a guided course through late data on the real engine — lessons in the
course chapter's order, each with a short explanation, a demo on the real operator,
one "try this" prompt and a check question whose answer the engine computes. Deep
links: ``/learn?lesson=<key>&step=<key>`` (``lesson=glossary&q=<words>`` for the
glossary); ``&present=1`` is presenter mode.
"""

import streamlit as st

from engine.analysis import glossary
from engine.analysis.lessons import BY_KEY, LESSONS, lesson
from engine.core.timeutil import format_duration_ms
from ui.learn import draw_demo, glossary_figure
from ui.present import apply_presenter_style
from ui.router import ensure_router

ensure_router()

GLOSSARY = "glossary"
KEYS = [x.key for x in LESSONS] + [GLOSSARY]
TITLES = {x.key: x.title for x in LESSONS} | {GLOSSARY: "Glossary: the chapter's terms and ours"}


@st.cache_data(show_spinner=False)
def check_for(lesson_key: str, step_key: str):
    return BY_KEY[lesson_key].step(step_key).check()


@st.cache_data(show_spinner="Replaying the clickstream through the operator…")
def rule_counts() -> dict:
    return glossary.watermark_rule_counts()


def go_to(lesson_key: str, step_key: str | None) -> None:
    st.session_state["learn_lesson"] = lesson_key
    st.session_state["learn_step"] = step_key or (
        BY_KEY[lesson_key].steps[0].key if lesson_key in BY_KEY else None
    )


def neighbours(lesson_key: str, step_key: str) -> tuple:
    """(previous, next) as (lesson, step) in course order, or None."""
    flat = [(x.key, s.key) for x in LESSONS for s in x.steps] + [(GLOSSARY, None)]
    i = flat.index((lesson_key, step_key))
    return (flat[i - 1] if i > 0 else None), (flat[i + 1] if i + 1 < len(flat) else None)


# -- where we are: the URL first (a shared link), then this session ----------------------
url_lesson, url_step = st.query_params.get("lesson"), st.query_params.get("step")
if url_lesson in KEYS and (url_lesson, url_step) != st.session_state.get("learn_url"):
    go_to(url_lesson, url_step)
st.session_state.setdefault("learn_lesson", KEYS[0])
current = st.session_state["learn_lesson"]
if current not in KEYS:
    current = st.session_state["learn_lesson"] = KEYS[0]

present = apply_presenter_style()
st.title("Learn: late data, on the real engine")
if not present:
    st.caption(
        "A course in the order of the chapter latewatch follows. Every demo runs the same "
        "window operator as the live numbers; every check's answer is computed by it. Share "
        "a lesson by its link; add `&present=1` for presenter mode (larger type, fewer "
        "controls)."
    )
st.selectbox(
    "Lesson",
    KEYS,
    format_func=TITLES.get,
    key="learn_lesson",
    on_change=lambda: st.session_state.update(learn_step=None),
)

if current == GLOSSARY:
    st.query_params["lesson"] = GLOSSARY
    st.query_params.pop("step", None)
    st.session_state["learn_url"] = (GLOSSARY, None)
    st.subheader("Glossary")
    st.markdown(
        "The chapter and latewatch mostly agree; where they do not, the entry says how. "
        "The biggest difference, counted on one replay of the clickstream (hourly windows, "
        "W = max − 30 s, 6 h allowed lateness) through the operator:"
    )
    counts = rule_counts()
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Behind the watermark (chapter: late)",
        f"{counts['behind_watermark']:,}",
        help="event time < W when the event arrived",
    )
    c2.metric(
        "Routed late (latewatch)",
        f"{counts['routed_late']:,}",
        help="the event's window had already fired",
    )
    c3.metric("Ratio", f"{counts['ratio']:.0f}×" if counts["ratio"] else "—")
    wl = counts["watermark_lateness_ms"]
    st.caption(
        f"Of {counts['events']:,} events. The `watermark_lateness_ms` metric (W − event time, "
        f"for every event once W exists): p50 {format_duration_ms(wl['p50'])}, p99 "
        f"{format_duration_ms(wl['p99'])}, max {format_duration_ms(wl['max'])} — negative "
        "means ahead of the watermark."
        if wl
        else ""
    )
    if not present:
        st.plotly_chart(glossary_figure(counts), width="stretch", key="glossary_counts")
    q = st.text_input("Search the glossary", value=st.query_params.get("q", ""), key="learn_q")
    if q:
        st.query_params["q"] = q
    else:
        st.query_params.pop("q", None)
    found = glossary.search(q)
    for t in found:
        same = t.chapter == t.term
        head = f"**{t.term}**" + ("" if same else f" — the chapter: *{t.chapter}*")
        body = t.meaning
        if t.differs:
            body += f"  \n*How the chapter differs:* {t.differs}"
        links = []
        if t.lesson:
            links.append(f"[lesson: {TITLES[t.lesson]}](/learn?lesson={t.lesson})")
        if t.page is not None and t.lesson:
            url = f"/{t.page}" if t.page else "/"
            links.append(f"[where it shows]({url})")
        st.markdown(f"{head}  \n{body}" + (f"  \n{' · '.join(links)}" if links else ""))
    if not found:
        st.info(f"No term matches “{q}”.")
    st.stop()

les = lesson(current)
step_keys = [s.key for s in les.steps]
if st.session_state.get("learn_step") not in step_keys:
    st.session_state["learn_step"] = step_keys[0]
st.subheader(les.title)
st.caption(f"Chapter: {les.chapter}")
st.markdown(les.summary)
if len(les.steps) > 1:
    st.segmented_control(
        "Step",
        step_keys,
        format_func=lambda k: f"{step_keys.index(k) + 1}. {les.step(k).title}",
        key="learn_step",
        required=True,
    )
step = les.step(st.session_state["learn_step"])
st.query_params["lesson"] = les.key
st.query_params["step"] = step.key
st.session_state["learn_url"] = (les.key, step.key)

st.markdown(f"#### {step.title}")
st.markdown(step.text)
draw_demo(les, step, present)
st.info(f"**Try this.** {step.try_this}", icon=":material/touch_app:")

check = check_for(les.key, step.key)
st.markdown("**Check.** " + check.question)
choice = st.radio(
    "Your answer",
    check.options,
    index=None,
    key=f"check_{les.key}_{step.key}",
    horizontal=True,
    label_visibility="collapsed",
)
if choice is not None:
    if choice == check.answer:
        st.success(f"Right: {check.answer}. Verify it in the demo: {check.verify}")
    else:
        st.error(f"Not quite. Look again in the demo: {check.verify}")

if not present:
    page_url = f"/{les.page}" if les.page else "/"
    terms = [glossary.BY_KEY[t] for t in les.terms if t in glossary.BY_KEY]
    st.markdown(
        f"**In latewatch:** [{les.page_title}]({page_url}) — {les.page_why}  \n"
        "**Terms:** "
        + ", ".join(f"[{t.term}](/learn?lesson=glossary&q={t.term.split()[0]})" for t in terms)
    )

prev, nxt = neighbours(les.key, step.key)
b1, _, b2 = st.columns([1, 3, 1])
if prev:
    b1.button("◀ previous", key="learn_prev", on_click=go_to, args=prev, width="stretch")
if nxt:
    b2.button("next ▶", key="learn_next", on_click=go_to, args=nxt, width="stretch")
