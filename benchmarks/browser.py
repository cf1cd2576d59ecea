"""What a user waits for, measured in a real browser (Playwright + Debian chromium).

    python benchmarks/browser.py [--db PATH] [--runs 3] [--skip-fresh] [--pages today,whatif]

1. Fresh start to numbers: ``streamlit run app.py`` on an empty store with the
   app's defaults (8 simulated days, 20,000 events/day); the seconds from
   starting the server until Today shows today's live numbers worked out ahead of
   the replay ("ahead of the replay"), the day being replayed with the store's
   numbers ("(replay)"), and today's live numbers from the store ("Today (live)").
   The baseline is an empty Streamlit app started the same way, to its heading:
   the server's own start and the browser's loading of Streamlit's front end.
2. Page settle after clicking its link in the sidebar (median of ``--runs``):
   from the click until the script run is over and nothing is still running,
   on the store of step 1 while the runtime keeps ingesting (scheduler on).
   The baseline is an empty Streamlit page served the same way. Next to it the
   CPU seconds the click cost the browser (every chromium process) and the server
   (its process, the runtime's ingest included): on a busy machine the seconds
   waited move with the load, the CPU spent much less.
3. What-if lab: a slider move (the first source's allowed lateness, one step
   with the keyboard) until the numbers are redrawn; a new allowed-lateness sweep
   (the sweep's source changed to one source, then back to every source); the exact
   sweep toggle when the proposal needs the operator (otherwise it is disabled).

Prints figures; it is a script, not a timed test. Needs /usr/bin/chromium and
the ``playwright`` package (no browser download: it uses Debian's chromium).
"""

from __future__ import annotations

import argparse
import ast
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


class Results(list):
    """Rows of the final table, each also printed as it is measured (a run that dies
    half-way still leaves its figures)."""

    def append(self, row: tuple[str, str]) -> None:
        super().append(row)
        print(f"  {row[0]}: {row[1]}", flush=True)


def cpu_seconds(pids) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc; 0 if gone)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def chromium_pids() -> list[int]:
    """Every chromium process on the machine (the benchmark's browser is the one running)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("chromium", "chrome"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(script: str, env: dict, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port)]
        + ["--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT,
        env={
            **os.environ,
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
            **env,
        },
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{script} did not start; see {log}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def settled(page, timeout_ms: int = 60_000) -> None:
    """The script run is over and drawn: connected, not running, no spinner, no stale
    element, no skeleton (an element whose front-end code has not loaded yet)."""
    app = page.locator("[data-testid=stApp]")
    app.and_(page.locator("[data-test-connection-state=CONNECTED]")).wait_for(
        state="attached", timeout=timeout_ms
    )
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=stApp]');"
        " return a && a.getAttribute('data-test-script-state') !== 'running'"
        " && !document.querySelector('[data-testid=stSpinner]')"
        # an element whose front-end code is still loading is drawn as a grey skeleton
        " && !document.querySelector('[data-testid=stSkeleton]')"
        " && !document.querySelector('[data-stale=true]'); }",
        timeout=timeout_ms,
        polling=20,
    )


def slider(page, label: str):
    """The thumb of the first slider whose widget label contains ``label``."""
    box = page.get_by_test_id("stSlider").filter(has_text=label)
    if box.count():
        return box.first.get_by_role("slider").first
    return page.get_by_role("slider").nth(1)


def pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the selectbox whose label contains ``label``: type it into
    the combobox (Streamlit 1.67's selectbox filters as you type) and press Enter."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    combo = box.get_by_role("combobox").first
    combo.click()
    combo.fill(option)
    page.get_by_role("option", name=option, exact=True).first.click()


def routed_pages() -> list[tuple[str, str]]:
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            pages = ast.literal_eval(node.value)
            return [(url, title) for _, path, title, url, _ in pages if (ROOT / path).exists()]
    raise SystemExit("app.py has no PAGES table")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="reuse a store (skips the fresh start unless it is missing)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-fresh", action="store_true")
    ap.add_argument("--pages", help="comma-separated url paths (default: every page)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="lw_browser_"))
    db = Path(args.db) if args.db else tmp / "latewatch.db"
    results = Results()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})

        # -- baseline: an empty page ----------------------------------------------
        empty = tmp / "empty.py"
        empty.write_text("import streamlit as st\n\nst.title('Empty')\n")
        t0 = time.perf_counter()
        proc, url = serve(str(empty), {}, tmp / "empty.log")
        try:
            page.goto(url)
            page.get_by_role("heading", name="Empty").wait_for()
            empty_start = time.perf_counter() - t0
            results.append(
                ("empty Streamlit app, fresh start to its heading", f"{empty_start:.1f} s")
            )
            settled(page)
            runs = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                page.reload()
                page.get_by_role("heading", name="Empty").wait_for()
                settled(page)
                runs.append(time.perf_counter() - t0)
            base = statistics.median(runs)
            results.append(("empty Streamlit page, reload to settled (median)", f"{base:.2f} s"))
        finally:
            stop(proc)

        # -- fresh start to Today's numbers ------------------------------------------
        env = {"LATEWATCH_DB": str(db)}
        fresh = not db.exists() and not args.skip_fresh
        t0 = time.perf_counter()
        proc, url = serve("app.py", env, tmp / "app.log")
        try:
            page.goto(url)
            if fresh:  # today's live numbers, worked out ahead of the replay, come first
                page.get_by_text("ahead of the replay").first.wait_for(timeout=600_000)
                # (the number itself, drawn, not only the heading above it)
                today_revenue = page.get_by_test_id("stMetric").filter(
                    has_text="Revenue — today, live"
                )
                today_revenue.get_by_test_id("stMetricValue").get_by_text("$").first.wait_for(
                    timeout=600_000
                )
                took = time.perf_counter() - t0
                results.append(
                    (
                        "fresh start -> Today shows today's live numbers ahead of the replay",
                        f"{took:.1f} s ({took - empty_start:+.1f} s over the empty app)",
                    )
                )
                # then the day being replayed, with the store's numbers
                page.get_by_text("(replay)").first.wait_for(timeout=600_000)
                results.append(
                    (
                        "fresh start -> Today shows the replayed day's numbers",
                        f"{time.perf_counter() - t0:.1f} s",
                    )
                )
            numbers = page.get_by_text("Today (live)")
            numbers.first.wait_for(timeout=600_000)
            if fresh:
                results.append(
                    (
                        "fresh start -> Today shows its live numbers from the store (replay done)",
                        f"{time.perf_counter() - t0:.1f} s",
                    )
                )
            settled(page)

            # -- per-page settle after clicking its link ----------------------------------
            wanted = set(args.pages.split(",")) if args.pages else None
            pages = [(u, t) for u, t in routed_pages() if wanted is None or u in wanted]
            nav = page.get_by_test_id("stSidebarNav")
            for url_path, title in pages:
                runs, cpu_browser, cpu_server = [], [], []
                for _ in range(args.runs):
                    # start from another page so the click is a real navigation
                    other = next(t for u, t in pages + [("today", "Today")] if u != url_path)
                    nav.get_by_role("link", name=other, exact=True).first.click()
                    settled(page)
                    browsers = chromium_pids()
                    c0 = (cpu_seconds(browsers), cpu_seconds([proc.pid]))
                    t0 = time.perf_counter()
                    nav.get_by_role("link", name=title, exact=True).first.click()
                    # the previous page is settled too: wait until the app is on this one
                    page.wait_for_url(f"**/{url_path}*")
                    page.get_by_test_id("stMain").get_by_role("heading").first.wait_for()
                    settled(page)
                    runs.append(time.perf_counter() - t0)
                    cpu_browser.append(cpu_seconds(browsers) - c0[0])
                    # (the server's CPU includes the runtime's ingest meanwhile)
                    cpu_server.append(cpu_seconds([proc.pid]) - c0[1])
                med = statistics.median(runs)
                results.append(
                    (
                        f"page {title}: click -> settled (median of {args.runs})",
                        f"{med:.2f} s ({med / base:.1f}x empty; CPU s browser "
                        f"{statistics.median(cpu_browser):.2f}, server "
                        f"{statistics.median(cpu_server):.2f})",
                    )
                )

            # -- What-if slider and sweep ----------------------------------------------------
            if wanted is None or "whatif" in wanted:
                nav.get_by_role("link", name="What-if lab", exact=True).first.click()
                settled(page)
                runs = []
                for i in range(args.runs):
                    # the first source's allowed lateness (its label names it), one step
                    thumb = slider(page, "Allowed lateness")
                    thumb.focus()
                    t0 = time.perf_counter()
                    page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                    page.wait_for_timeout(50)  # the widget sends its value on release
                    settled(page)
                    runs.append(time.perf_counter() - t0)
                results.append(
                    ("What-if slider move -> numbers redrawn", f"{statistics.median(runs):.2f} s")
                )
                # a new sweep: every source -> one source -> every source again
                runs = []
                for option in ("web", "all"):
                    t0 = time.perf_counter()
                    pick(page, "Sweep allowed lateness for", option)
                    settled(page, timeout_ms=180_000)
                    runs.append(time.perf_counter() - t0)
                results.append(
                    ("What-if new sweep (source, then all)", " / ".join(f"{r:.2f} s" for r in runs))
                )
                toggle = page.get_by_text("Exact sweep", exact=True)
                if toggle.count() and toggle.first.is_enabled():
                    t0 = time.perf_counter()
                    toggle.first.click()
                    settled(page, timeout_ms=180_000)
                    results.append(("What-if exact sweep on", f"{time.perf_counter() - t0:.2f} s"))
        finally:
            stop(proc)
        browser.close()

    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; store {db}")
    width = max(len(r[0]) for r in results)
    for what, figure in results:
        print(f"{what:<{width}}  {figure}")


if __name__ == "__main__":
    main()
