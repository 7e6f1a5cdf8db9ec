"""The HTML previews in a real browser: headless Chromium loads the saved week view and the
served page, and the test checks that the airings are laid out visibly, that nothing is
logged to the console, and that a body full of markup never runs as script.

Chromium is driven over the DevTools protocol with a minimal WebSocket client built on the
standard library (one connection, text frames only), so the test needs no extra package and
can both read the DOM and hear every console message, exception and dialog.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from scheduler.calendar_data import (
    CalendarAiring,
    CalendarChannel,
    CalendarData,
    CalendarGap,
)
from scheduler.render import preview

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"{CHROMIUM} is not installed (apt-get install -y chromium)",
)

RIYADH = ZoneInfo("Asia/Riyadh")
START = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
# Every way this body could run sets the title or a global, or opens a dialog.
EVIL = (
    '<script>document.title="pwned";window.pwned=1;alert(1)</script>'
    "<img src=x onerror=\"document.title='pwned';window.pwned=1\">"
    '<svg onload="window.pwned=1"></svg>'
)
TITLE = "Content calendar"
# Screenshots are kept here (git-ignored) so a reviewer can look at what the browser drew.
ARTIFACTS = Path(__file__).parent / "artifacts"
LONG_URL = "https://example.com/" + "a-very-long-path-segment-without-any-break" * 4


def sample() -> CalendarData:
    bodies = [
        ("core", "published", "إطلاق المنتج الجديد اليوم 🚀\nتفاصيل أكثر على موقعنا"),
        ("entertaining", "published", "Friday quiz 🦊👨‍👩‍👧 which one is our mascot?"),
        ("core", "unconfirmed", f"Launch {EVIL}"),
        ("core", "failed", "Webinar starts now"),
        ("repost", "planned", "من الأرشيف: إطلاق المنتج الجديد اليوم 🚀"),
        ("entertaining", "missed", "Meme Monday"),
        ("core", "planned", f"Read the full story {LONG_URL} مرحبا بالجميع"),
    ]
    airings = []
    for n, (kind, status, body) in enumerate(bodies * 3):
        post = 1 if kind == "repost" else n + 1
        at = START + timedelta(hours=6 * n, minutes=15 * (n % 3))
        error = "422: text too long" if status == "failed" else None
        airings.append(
            CalendarAiring(n + 1, "main", post, kind, False, at, RIYADH, status, body, error=error)
        )
    gap = CalendarGap("main", START + timedelta(hours=126), START + timedelta(hours=160))
    channel = CalendarChannel("main", "mastodon", RIYADH, timedelta(hours=3))
    return CalendarData(START, START + timedelta(days=7), START, (channel,), tuple(airings), (gap,))


# --- a minimal DevTools client ---------------------------------------------------------------


class DevTools:
    """One WebSocket connection to a page target: send commands, collect events."""

    def __init__(self, ws_url: str) -> None:
        url = urlsplit(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self.sock.close()

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("DevTools connection closed")
            data += chunk
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        size = len(payload)
        if size < 126:
            header += bytes([0x80 | size])
        elif size < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", size)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", size)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _message(self) -> dict[str, Any]:
        parts = b""
        while True:
            first, second = self._read(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(size)
            opcode = first & 0x0F
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the connection")
            parts += payload
            if first & 0x80:  # FIN: the message is complete
                return json.loads(parts)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self._send_frame(
            0x1, json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        )
        while True:
            message = self._message()
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(self._message())
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"]["value"]

    def problems(self) -> list[dict[str, Any]]:
        """Console messages of any level, uncaught exceptions, log entries, dialogs: the
        pages have no script of their own, so any of these means something went wrong."""
        noisy = (
            "Runtime.consoleAPICalled",
            "Runtime.exceptionThrown",
            "Log.entryAdded",
            "Page.javascriptDialogOpening",
        )
        return [event for event in self.events if event.get("method") in noisy]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium with remote debugging; yields the DevTools HTTP endpoint."""
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("w")
    process = subprocess.Popen(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "about:blank",
        ],
        stdout=log,
        stderr=log,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, (tmp_path / "chromium.log").read_text()
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def open_page(endpoint: str, url: str, *, width: int = 1280, height: int = 1600) -> DevTools:
    """Load `url` in a fresh tab with every event domain on before the first byte arrives."""
    request = urllib.request.Request(f"{endpoint}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        target = json.load(response)
    tools = DevTools(target["webSocketDebuggerUrl"])
    for domain in ("Runtime", "Log", "Page"):
        tools.call(f"{domain}.enable")
    tools.events.clear()  # about:blank's own chatter
    resize(tools, width, height)
    tools.call("Page.navigate", url=url)
    tools.wait_for("Page.loadEventFired")
    return tools


def resize(tools: DevTools, width: int, height: int) -> None:
    tools.call(
        "Emulation.setDeviceMetricsOverride",
        width=width, height=height, deviceScaleFactor=1, mobile=width < 600,
    )  # fmt: skip


def screenshot(tools: DevTools, path: Path) -> Path:
    path.write_bytes(base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"]))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


LAYOUT = """JSON.stringify({
  title: document.title,
  pwned: typeof window.pwned,
  scripts: document.scripts.length,
  images: document.images.length,
  svgs: document.querySelectorAll("svg").length,
  text: document.body.innerText,
  dir: document.documentElement.dir,
  width: document.documentElement.scrollWidth,
  airings: [...document.querySelectorAll(".airing")].map(e => {
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 10));
    return {id: e.id, text: e.innerText, width: r.width, height: r.height,
            shown: s.display !== "none" && s.visibility !== "hidden" && Number(s.opacity) > 0,
            inViewport: r.top < innerHeight && r.bottom > 0,
            onTop: hit !== null && e.contains(hit)};
  }),
})"""


def check_page(tools: DevTools, data: CalendarData, *, lang: str = "en") -> dict[str, Any]:
    layout = json.loads(tools.evaluate(LAYOUT))
    assert layout["title"].startswith(TITLE if lang == "en" else "تقويم المحتوى")
    assert layout["pwned"] == "undefined"
    assert (layout["scripts"], layout["images"], layout["svgs"]) == (0, 0, 0)
    assert len(layout["airings"]) == len(data.airings)
    for box in layout["airings"]:
        assert box["shown"] and box["width"] > 100 and box["height"] > 20, box
    assert any(box["inViewport"] and box["onTop"] for box in layout["airings"])
    assert "<script>document.title=" in layout["text"]  # the malicious body, as text
    assert "إطلاق المنتج الجديد اليوم" in layout["text"]
    assert tools.problems() == []
    return layout


def test_saved_week_view_in_chromium(browser: str, tmp_path: Path) -> None:
    data = sample()
    page = tmp_path / "week.html"
    page.write_text(preview.render_html(data, view="week"), encoding="utf-8")
    tools = open_page(browser, page.as_uri())
    try:
        layout = check_page(tools, data)
        assert layout["dir"] == "ltr"
        screenshot(tools, tmp_path / "week-1280.png")
        resize(tools, 390, 1600)
        phone = json.loads(tools.evaluate(LAYOUT))
        assert phone["width"] <= 390  # nothing sticks out sideways on a phone
        assert all(box["width"] > 300 for box in phone["airings"])  # one day per row
        screenshot(tools, tmp_path / "week-390.png")
        assert tools.problems() == []
    finally:
        tools.close()


def test_served_page_in_chromium(browser: str, tmp_path: Path) -> None:
    data = sample()
    renders: list[tuple[str, str]] = []

    def render(view: str, lang: str) -> str:
        renders.append((view, lang))
        return preview.render_html(data, view=view, lang=lang, switch=True)

    server = preview.make_server(render, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}/"
    try:
        for query, lang in (("", "en"), ("?view=month&lang=ar", "ar")):
            tools = open_page(browser, base + query)
            try:
                layout = check_page(tools, data, lang=lang)
                assert layout["dir"] == ("rtl" if lang == "ar" else "ltr")
                screenshot(tools, tmp_path / f"served-{lang}.png")
            finally:
                tools.close()
        assert renders[:2] == [("week", "en"), ("month", "ar")]  # rendered per request
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# The week grid, measured in the page: rows of one hour line up across the days, every card
# sits inside its hour's cell, and nothing inside a card sticks out of it.
GRID = """JSON.stringify({
  width: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  days: [...document.querySelectorAll(".day")].map(day => ({
    label: day.querySelector("h2").innerText,
    hours: [...day.querySelectorAll(".hour")].map(h => {
      const r = h.getBoundingClientRect(), s = getComputedStyle(h);
      return {top: r.top, shown: s.display !== "none", cards: h.querySelectorAll(".airing").length,
              now: h.querySelector(".now") !== null, gaps: h.querySelectorAll(".gap").length};
    }),
  })),
  now: [...document.querySelectorAll(".now")].map(n => {
    const r = n.getBoundingClientRect(), cell = n.closest(".hour").getBoundingClientRect();
    return {top: r.top - cell.top, cell: cell.height, width: r.width,
            day: n.closest(".day").querySelector("h2").innerText};
  }),
  overflow: [...document.querySelectorAll(".airing")].flatMap(card => {
    const c = card.getBoundingClientRect();
    const cell = card.closest(".hour, .cell, body").getBoundingClientRect();
    const out = [];
    if (card.scrollWidth > card.clientWidth + 1) out.push({id: card.id, what: "scrolls"});
    if (c.left < cell.left - 1 || c.right > cell.right + 1)
      out.push({id: card.id, what: "leaves its cell"});
    for (const el of card.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width && (r.left < c.left - 1 || r.right > c.right + 1))
        out.push({id: card.id, what: el.tagName + "." + el.className, left: r.left, right: r.right,
                  card: [c.left, c.right]});
    }
    return out;
  }),
})"""


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_week_hour_grid_in_chromium(browser: str, tmp_path: Path, lang: str) -> None:
    data = sample()
    page = tmp_path / f"week-{lang}.html"
    page.write_text(preview.render_html(data, view="week", lang=lang), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    tools = open_page(browser, page.as_uri())
    try:
        check_page(tools, data, lang=lang)
        desktop = json.loads(tools.evaluate(GRID))
        screenshot(tools, ARTIFACTS / f"week-{lang}-1280.png")
        assert desktop["overflow"] == []
        assert desktop["width"] <= 1280
        days = desktop["days"]
        assert len(days) == 8 and all(len(day["hours"]) == 24 for day in days)
        # One row per hour across the whole week: the same hour starts at the same height.
        for hour in range(24):
            tops = {round(day["hours"][hour]["top"]) for day in days}
            assert len(tops) == 1, (hour, tops)
        rows = [day["hours"][hour]["top"] for day in days[:1] for hour in range(24)]
        assert rows == sorted(rows) and len(set(rows)) == 24  # 00:00 at the top, 23:00 last
        assert sum(h["cards"] for day in days for h in day["hours"]) == len(data.airings)
        # Generated at 08:00 Riyadh on Monday: the now-line is at the top of that hour.
        (now,) = desktop["now"]
        assert now["day"].startswith("Mon 23" if lang == "en" else "الاثنين 23")
        assert abs(now["top"]) <= 2 and now["width"] > 50
        # Published history stays in the window, in its hour (05:00 UTC = 08:00 +03).
        monday = days[0]["hours"]
        assert monday[8]["cards"] == 1
        for day in days:  # "1 airing", "2 airings": the count agrees with the cards
            cards = sum(h["cards"] for h in day["hours"])
            assert day["label"].endswith(preview.i18n.airing_count(cards, lang)), day["label"]

        resize(tools, 390, 1600)
        phone = json.loads(tools.evaluate(GRID))
        screenshot(tools, ARTIFACTS / f"week-{lang}-390.png")
        assert phone["overflow"] == []
        assert phone["width"] <= 390  # nothing sticks out sideways on a phone
        shown = [h for day in phone["days"] for h in day["hours"] if h["shown"]]
        assert all(h["cards"] or h["gaps"] or h["now"] for h in shown)
        assert sum(h["cards"] for h in shown) == len(data.airings)
        assert len(shown) < 8 * 24  # empty hours fold away on a phone
        layout = json.loads(tools.evaluate(LAYOUT))
        assert all(box["width"] > 300 for box in layout["airings"])  # one day per row
        assert tools.problems() == []
    finally:
        tools.close()


MIXED = "مرحبا! Right-to-left text and emoji 👨‍👩‍👧 go through untouched, in both directions."
# Where the start of the English run is drawn, against the paragraph that should show it.
VISIBLE_START = """JSON.stringify([...document.querySelectorAll(".cell .body p")].map(p => {
  const node = p.firstChild, at = node.textContent.indexOf("Right");
  const range = document.createRange();
  range.setStart(node, at); range.setEnd(node, at + 5);
  const word = range.getBoundingClientRect(), box = p.getBoundingClientRect();
  return {dir: getComputedStyle(p).direction,
          visible: word.left >= box.left - 1 && word.right <= box.right + 1
                   && word.top >= box.top - 1 && word.bottom <= box.bottom + 1};
}))"""


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_month_view_cuts_a_mixed_body_at_its_logical_end(
    browser: str, tmp_path: Path, lang: str
) -> None:
    """An Arabic-first body with an English run: a visual cut at the line's left end would
    drop the start of the English run and keep its end; the cell must show a logical prefix."""
    channel = CalendarChannel("main", "file", RIYADH, timedelta(hours=3))
    airings = tuple(
        CalendarAiring(n + 1, "main", n + 1, "core", False, START + timedelta(hours=n), RIYADH,
                       "planned", MIXED)
        for n in range(3)
    )  # fmt: skip
    data = CalendarData(START, START + timedelta(days=1), START, (channel,), airings, ())
    page = tmp_path / "month.html"
    page.write_text(preview.render_html(data, view="month", lang=lang), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    tools = open_page(browser, page.as_uri())
    try:
        month = json.loads(tools.evaluate(GRID))
        assert month["overflow"] == []
        screenshot(tools, ARTIFACTS / f"month-mixed-{lang}-1280.png")
        shown = json.loads(tools.evaluate(VISIBLE_START))
        assert len(shown) == 3
        assert all(p == {"dir": "rtl", "visible": True} for p in shown), shown
        assert tools.problems() == []
    finally:
        tools.close()
