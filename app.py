"""latewatch: the Streamlit entry point — navigation, the shared sidebar, one runtime.

Pages live in ``pages/`` and are routed by ``st.navigation``; each page calls
``ui.router.ensure_router()`` after its imports so a deep link on a fresh server still gets
the router and the sidebar.
"""

from pathlib import Path

import streamlit as st
from streamlit import config as st_config

from ui.router import routed
from ui.runtime import get_runtime
from ui.sidebar import sidebar
from ui.style import apply_style

ROOT = Path(__file__).parent

# (section, file, title, url path, icon)
PAGES = (
    ("Numbers", "pages/today.py", "Today", "today", ":material/today:"),
    ("Learn", "pages/learn.py", "Learn", "learn", ":material/school:"),
    ("Numbers", "pages/versions.py", "Versions", "versions", ":material/history:"),
    ("Numbers", "pages/alerts.py", "Alerts", "alerts", ":material/notifications:"),
    (
        "Numbers",
        "pages/reconciliation.py",
        "Reconciliation",
        "reconciliation",
        ":material/balance:",
    ),
    ("Data quality", "pages/lateness.py", "Lateness", "lateness", ":material/schedule:"),
    ("Data quality", "pages/operations.py", "Operations", "operations", ":material/build:"),
    ("Tuning and learning", "pages/whatif.py", "What-if lab", "whatif", ":material/tune:"),
    (
        "Tuning and learning",
        "pages/playground.py",
        "Watermark playground",
        "playground",
        ":material/science:",
    ),
    (
        "Tuning and learning",
        "pages/import.py",
        "Import events",
        "import",
        ":material/upload_file:",
    ),
)

# An emoji favicon: a ":material/…" page icon makes the browser fetch its SVG from
# fonts.gstatic.com, which fails (and is a request out) on an offline machine.
st.set_page_config(page_title="latewatch", page_icon="⏱️", layout="wide")
# Streamlit's table toolbar download writes cells verbatim (formulas included); the
# pages offer formula-safe downloads instead. .streamlit/config.toml says the same for
# a server started from the repository; this covers one started from elsewhere.
st.set_option("client.disableDataExport", True)
# No full garbage collection after every run (see .streamlit/config.toml [runner]); not
# a st.set_option (that takes client options only), read by the script runner each run.
st_config.set_option("runner.postScriptGC", False)
runtime = get_runtime()

# Learn comes first in the sidebar (a fresh visitor finds the course); Today stays "/"
sections: dict[str, list] = {"Learn": []}
for section, path, title, url, icon in PAGES:
    if (ROOT / path).exists():
        sections.setdefault(section, []).append(st.Page(path, title=title, url_path=url, icon=icon))
# "/" shows the first page too. Streamlit serves a default page at "/" only (its own
# url_path then answers "Page not found"), so the default is a hidden twin of the first
# page and the visible one keeps its path: "/today" and the menu entry both work.
section, path, title, url, icon = next(p for p in PAGES if (ROOT / p[1]).exists())
sections[section].append(
    st.Page(path, title=title, url_path=f"{url}-home", icon=icon, default=True, visibility="hidden")
)

apply_style()
sidebar(runtime)
page = st.navigation({name: pages for name, pages in sections.items() if pages})
with routed():
    page.run()
