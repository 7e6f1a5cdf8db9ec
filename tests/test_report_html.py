"""`scheduler report --format html` (§11): the page's content and escaping, the command's
options, and the page in headless Chromium (charts drawn and visible, no console message,
no request leaving the file, English and Arabic, nothing overflowing its card at 1280 and
390 px). Screenshots are kept in tests/artifacts/ for a reviewer to look at.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler.config import Config, parse_config
from scheduler.domain import AiringStatus, Notice
from scheduler.measuring import Counts
from scheduler.queries.report import build_report
from scheduler.render.report_html import render_report_html
from scheduler.store.inbox import InboxStore
from scheduler.store.metrics import Snapshot, record_followers, record_snapshots
from scheduler.store.models import Airing
from scheduler.store.store import Outcome, PostDraft, Store
from tests.conftest import RunCli, write_config
from tests.test_preview_browser import CHROMIUM, browser  # noqa: F401 (the Chromium fixture)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
RIYADH = ZoneInfo("Asia/Riyadh")
ESC, RLO = "\x1b", "\u202e"
EVIL = '<script>document.title="pwned";window.pwned=1</script><img src=x onerror="window.pwned=1">'
HOSTILE_BODY = f"Launch {EVIL} {ESC}[2J{RLO}txet"
HOSTILE_TAG = f"<script>tag{ESC}]0;x{RLO}"
HOSTILE_AUTHOR = f"@mallory{ESC}[31m{RLO}<b>x</b>@evil.example"
ARABIC_BODY = "إطلاق المنتج الجديد اليوم 🚀 تفاصيل أكثر على موقعنا"

CONFIG = """
[scheduler]
timezone = "Asia/Riyadh"

[channels.main]
publisher = "file"
path = "main.jsonl"
timezone = "Asia/Riyadh"

[channels.main.goals]
followers = { target = 1500, by = 2027-02-28 }
engagement_per_airing = { target = 40, by = 2027-01-31 }
replies_answered = { share = "90%", within = "2h" }

[channels.quiet]
publisher = "file"
path = "quiet.jsonl"
timezone = "Europe/Berlin"
"""


def sample_config() -> Config:
    return parse_config(tomllib.loads(CONFIG), Path("/tmp/config.toml"))


def _aired(store: Store, post_id: int, at: datetime, kind: str) -> int:
    with store.session(write=True) as session:
        airing = Airing(
            post_id=post_id,
            channel="main",
            kind=kind,
            at=at,
            status=AiringStatus.published,
            published_at=at,
            remote_id=f"r-{post_id}-{int(at.timestamp())}",
            updated=at,
        )
        session.add(airing)
        session.flush()
        assert airing.id is not None
        return airing.id


def build_sample(store: Store, now: datetime = NOW) -> None:
    """Four weeks of `main`: six airings a day at 06, 09, …, 21 Riyadh time, engagement
    peaking in the evening, a rerun of an earlier post every third slot, tags, a hostile
    body and tag, followers rising daily, and an inbox with answers on time and late."""
    spacing = {"main": timedelta(minutes=30)}
    bodies = [ARABIC_BODY, "Friday quiz 🦊 which one is our mascot?", HOSTILE_BODY]
    bodies += ["Tip: answer every question\nsecond line", "Read the full story https://example.com"]
    snapshots = []
    posts: list[int] = []
    hostile = 0
    start = (now - 27 * DAY).replace(hour=0)
    for day in range(28):
        for slot, local_hour in enumerate((6, 9, 12, 15, 18, 21)):
            at = (start + day * DAY).replace(hour=local_hour - 3, minute=0)
            rerun = slot % 3 == 2 and len(posts) > 10
            if rerun:
                post_id = posts[(day * 7 + slot) % (len(posts) - 6)]
                kind = "repost"
            else:
                index = len(posts)
                tags = ("short",) if index % 2 else ("long",)
                if index == 2:
                    tags = (HOSTILE_TAG, "long")
                kind = "entertaining" if index % 4 == 1 else "core"
                draft = PostDraft(
                    body=bodies[index % len(bodies)] if index < 40 else f"Post number {index}",
                    kind=kind,
                    channels=("main",),
                    editor="sara",
                    tags=tags,
                )
                (post_id,) = store.add_posts([draft], now=start - DAY, spacing=spacing)
                posts.append(post_id)
                hostile = post_id if index == 2 else hostile
            airing_id = _aired(store, post_id, at, kind)
            likes = 4 + local_hour + (post_id % 5) * 3 + (8 if kind == "entertaining" else 0)
            if rerun:
                likes = likes // 2 + (local_hour % 9)
            if post_id == hostile and not rerun:
                likes += 60  # the hostile post tops the table
            counts = Counts(likes, likes // 4, (post_id + day) % 4)
            snapshots.append(Snapshot(airing_id, at + HOUR, counts, step=0, source="platform"))
    record_snapshots(store, snapshots)
    for day in range(28):
        record_followers(store, "main", 1000 + 9 * day + (day % 3), at=start + day * DAY)
        record_followers(store, "quiet", 80 - day // 3, at=start + day * DAY)  # no goal
    inbox = InboxStore(store)
    arrivals = [(-50, 20), (-30, 200), (-20, 45), (-12, None), (-6, 90), (-3, None), (-1, 15)]
    for index, (hours, answer_after) in enumerate(arrivals):
        arrived = now + hours * HOUR
        author = HOSTILE_AUTHOR if index == 3 else f"@reader{index}@example.social"
        notice = Notice(f"n{index}", "reply", author, "thanks!", arrived, None, None, {})
        inbox.ingest("main", [notice], f"n{index}", now=arrived)
        if answer_after is None:
            continue
        (entry,) = [e for e in inbox.entries() if e.item.platform_id == f"n{index}"]
        assert entry.item.id is not None
        answered = arrived + answer_after * timedelta(minutes=1)
        reply = inbox.queue_reply(entry.item.id, "thank you", editor="sara", now=answered)
        store.claim_due(
            owner="t", now=answered, lease=timedelta(seconds=30), limit=5, key_prefix="k",
            channels=["main"],
        )  # fmt: skip
        store.record_outcomes(
            [Outcome(reply, AiringStatus.published, "published", answered, remote_id=f"x{reply}")],
            owner="t",
        )


def sample_report(store: Store, *, compare: bool = True) -> dict[str, Any]:
    return build_report(
        sample_config(),
        store.view(),
        start=NOW - 28 * DAY,
        end=NOW,
        now=NOW,
        compare_tags=("long", "short") if compare else None,
    )


def sample_html(store: Store, lang: str = "en") -> str:
    config = sample_config()
    zones = {name: settings.timezone for name, settings in config.channels.items()}
    return render_report_html(
        sample_report(store), zones=zones, page_zone=config.zone(None), now=NOW, lang=lang
    )


@pytest.fixture
def sample_store(sqlite_url: str) -> Any:
    store = Store(sqlite_url)
    store.migrate()
    build_sample(store)
    yield store
    store.close()


# --- the page's content -----------------------------------------------------------------------


def test_hostile_body_tag_and_author_are_escaped_and_cleaned(sample_store: Store) -> None:
    page = sample_html(sample_store)
    assert "<script" not in page.replace("&lt;script", "")  # no tag of ours or theirs
    assert "<img" not in page and 'onerror="' not in page
    assert ESC not in page and RLO not in page  # control and bidi overrides removed
    assert "&lt;script&gt;document.title=" in page  # the body, shown as text
    assert "&lt;script&gt;tag]0;x" in page  # the tag, in SVG text and its tooltip
    assert "@mallory[31m&lt;b&gt;x&lt;/b&gt;@evil.example" in page  # the waiting author
    assert re.search(r"<text[^>]*>\u2068&lt;script&gt;tag", page)  # SVG text, escaped, isolated


def test_the_page_is_self_contained(sample_store: Store) -> None:
    page = sample_html(sample_store)
    assert "default-src &#39;none&#39;" in page  # the CSP forbids scripts and fetches
    # Nothing to fetch: no src, no link but the empty icon and in-page anchors, no CSS url().
    assert not re.search(r"<[a-z][^<>]*\ssrc=", page)  # (the hostile body has " src=" as text)
    assert set(re.findall(r'href="([^"#][^"]*)"', page)) == {"data:,"}
    assert "url(" not in page and "@import" not in page


def test_the_page_shows_every_section_with_its_numbers(sample_store: Store) -> None:
    report = sample_report(sample_store)
    main = report["channels"]["main"]
    page = sample_html(sample_store)
    for heading in (
        "Engagement by local hour", "By kind", "Reruns against first airings", "Follower trend",
        "Goals", "Top posts", "Bottom posts", "By tag", "Inbox", "Experiment: long against short",
    ):  # fmt: skip
        assert f">{heading}<" in page, heading
    # The hour chart, in each of its three drawings, has one bar per hour that aired, the
    # best one marked and labelled with its median.
    hours = re.findall(r'<svg class="chart (full|wide|narrow)"[^>]*aria-label="Engagement by '
                       r'local hour"[^>]*>(.*?)</svg>', page, re.S)  # fmt: skip
    assert [size for size, _ in hours] == ["full", "wide", "narrow"]
    best = max(main["by_hour"].values(), key=lambda row: row["median"])
    for _, drawing in hours:
        assert len(re.findall(r'class="bar( best)?"', drawing)) == len(main["by_hour"]) == 6
        assert drawing.count('class="bar best"') == 1
        assert f'class="value" text-anchor="middle">{best["median"]:g}</text>' in drawing
    counts = re.findall(r'class="count" text-anchor="middle">([^<]+)<', hours[0][1])
    assert len(counts) == 24  # the full drawing says how many airings each hour had
    assert sum(int(n) for n in counts if n != "–") == main["measured_airings"]
    # Goals with their status words, the inbox with its counts.
    assert "on track" in page or "behind" in page
    inbox = main["inbox"]
    assert f">{inbox['received']}<" in page
    assert "Answered within 2h" in page
    # The quiet channel says what is missing instead of drawing empty charts.
    assert page.count("Not measured: this platform") == 1  # said once, not in every card
    assert page.count(">Engagement by local hour<") == 1  # quiet draws no empty charts
    assert "Not read: this platform can" in page


def test_arabic_page_is_right_to_left_with_arabic_labels_and_mirrored_charts(
    sample_store: Store,
) -> None:
    english, arabic = sample_html(sample_store, "en"), sample_html(sample_store, "ar")
    assert '<html lang="ar" dir="rtl">' in arabic
    assert "التفاعل حسب الساعة المحلية" in arabic and "الأهداف" in arabic
    # The hour axis runs from the right: hour 00's label sits near the right edge.
    wide = re.compile(r'<text x="([\d.]+)" y="[\d.]+" class="tick" text-anchor="middle">00</text>')
    x_en, x_ar = (float(wide.findall(page)[0]) for page in (english, arabic))
    assert x_en < 100 and x_ar > 540


def test_report_command_writes_html_and_refuses_lang_without_it(
    tmp_path: Path, invoke: RunCli
) -> None:
    config = write_config(tmp_path)
    page = tmp_path / "report.html"
    result = invoke(
        "report", "--format", "html", "--lang", "ar", "--output", str(page), config=config
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert re.fullmatch(
        r"wrote the report of 1 channel, .+ – .+, to .+report\.html\n", result.stderr
    )
    html = page.read_text(encoding="utf-8")
    assert '<html lang="ar" dir="rtl">' in html and "ما الذي نجح" in html
    assert "لا منشورات في هذه الفترة." in html or "غير مقيس" in html
    refused = invoke("report", "--lang", "ar", config=config)
    assert refused.returncode == 2
    assert "--lang applies to --format html only" in refused.stderr
    text = invoke("report", "--format", "html", config=config)
    assert text.returncode == 0 and text.stdout.startswith("<!doctype html>")
    assert json.loads(invoke("report", "--format", "json", config=config).stdout)["channels"]


# --- in a real browser --------------------------------------------------------------------------

# What the browser drew: every chart shown, its shapes inside it, and any element of a card
# that sticks out of the card.
REPORT_LAYOUT = """JSON.stringify({
  dir: document.documentElement.dir,
  title: document.title,
  pwned: typeof window.pwned,
  scripts: document.scripts.length,
  width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  text: document.body.innerText,
  charts: [...document.querySelectorAll("svg.chart")].filter(
    svg => getComputedStyle(svg).display !== "none").map(svg => {
    const box = svg.getBoundingClientRect();
    const shapes = [...svg.querySelectorAll("rect, polyline, circle, line, text")];
    const marks = [...svg.querySelectorAll("rect.bar, polyline.line")].filter(shape => {
      const r = shape.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    }).length;
    const outside = shapes.filter(shape => {
      const r = shape.getBoundingClientRect();
      return r.left < box.left - 1 || r.right > box.right + 1
          || r.top < box.top - 1 || r.bottom > box.bottom + 1;
    }).map(shape => shape.tagName + ":" + (shape.textContent || shape.getAttribute("class")));
    const fonts = [...svg.querySelectorAll("text")].map(t => t.getBoundingClientRect().height)
      .filter(height => height > 0);
    return {label: svg.getAttribute("aria-label"), width: box.width, height: box.height, marks,
            outside, smallest: fonts.length ? Math.min(...fonts) : null};
  }),
  overflow: [...document.querySelectorAll(".card, .tile")].flatMap(card => {
    const c = card.getBoundingClientRect(), out = [];
    const name = (card.querySelector("h3, .label") || card).innerText.slice(0, 40);
    if (card.scrollWidth > card.clientWidth + 1)
      out.push({card: name, what: "scrolls", by: card.scrollWidth - card.clientWidth});
    for (const el of card.querySelectorAll("*")) {
      if (el.closest("svg") && el.tagName !== "svg") continue;  // shapes are checked above
      const r = el.getBoundingClientRect();
      if (r.width && (r.left < c.left - 1 || r.right > c.right + 1))
        out.push({card: name, what: el.tagName + "." + el.className});
    }
    return out;
  }),
})"""


def open_report(endpoint: str, url: str) -> Any:
    """A fresh tab with the network domain on too, so every request the page makes is seen."""
    import urllib.request

    from tests.test_preview_browser import DevTools

    request = urllib.request.Request(f"{endpoint}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    tools = DevTools(target["webSocketDebuggerUrl"])
    for domain in ("Runtime", "Log", "Page", "Network"):
        tools.call(f"{domain}.enable")
    tools.events.clear()
    return tools


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed")
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_report_page_in_chromium(
    browser: str,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    sample_store: Store,
    lang: str,
) -> None:
    from tests.test_preview_browser import ARTIFACTS, resize, screenshot

    page = tmp_path / f"report-{lang}.html"
    page.write_text(sample_html(sample_store, lang), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    tools = open_report(browser, page.as_uri())
    try:
        resize(tools, 1280, 1600)
        tools.call("Page.navigate", url=page.as_uri())
        tools.wait_for("Page.loadEventFired")
        for width in (1280, 390):
            resize(tools, width, 1600)
            layout = json.loads(tools.evaluate(REPORT_LAYOUT))
            assert layout["dir"] == ("rtl" if lang == "ar" else "ltr")
            assert layout["title"] == ("ما الذي نجح" if lang == "ar" else "What worked")
            assert (layout["pwned"], layout["scripts"]) == ("undefined", 0)
            assert "<script>document.title=" in layout["text"]  # the hostile body, as text
            if lang == "ar":
                for label in ("التفاعل حسب الساعة المحلية", "الأهداف", "اتجاه المتابعين", "متأخر"):
                    assert label in layout["text"], label
            assert layout["width"] <= width, "the page scrolls sideways"
            assert layout["overflow"] == [], layout["overflow"]
            charts = layout["charts"]
            # main's hours, kinds, reruns, followers, tags and the inbox meter, and quiet's
            # followers: each once, in the drawing that fits this width.
            labels = [chart["label"] for chart in charts]
            assert len(labels) == 7 and len(set(labels)) == 6, labels
            for chart in charts:
                assert chart["width"] > 200 and chart["height"] > 40, chart
                assert chart["marks"] > 0, chart  # bars or a line actually drawn
                assert chart["outside"] == [], chart  # no label cut off at an edge
                assert chart["smallest"] >= 9, chart  # text stays readable at this width
            resize(tools, width, min(layout["height"], 8000))
            screenshot(tools, ARTIFACTS / f"report-{lang}-{width}.png")
        assert tools.problems() == []
        requested = [
            event["params"]["request"]["url"]
            for event in tools.events
            if event.get("method") == "Network.requestWillBeSent"
        ]
        assert requested and all(url.startswith(("file:", "data:")) for url in requested), requested
    finally:
        tools.close()


def test_svg_text_and_tooltips_are_cleaned_and_escaped() -> None:
    from scheduler.render.report_html import Canvas

    canvas = Canvas(200, 50, rtl=True)
    canvas.text(10, 20, HOSTILE_TAG, "label", own=True)
    canvas.rect(10, 20, 30, 10, "bar", title=f'{EVIL}"{RLO}')
    drawn = str(canvas.chart("hostile").shapes)
    assert ESC not in drawn and RLO not in drawn
    assert "<script" not in drawn and "<img" not in drawn
    assert '<text x="190" y="20" class="label" text-anchor="start">\u2068&lt;script&gt;' in drawn
    assert "<title>&lt;script&gt;document.title=&#34;pwned&#34;" in drawn
    assert '<rect x="160" y="20" width="30" height="10" class="bar">' in drawn  # mirrored
