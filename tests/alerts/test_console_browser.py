"""The live console in a real headless Chromium, against the project's ASGI app served by uvicorn on a
loopback port: sign in, see an alert raised server-side appear within a second with its snapshot,
process it, and catch up after the socket drops."""
from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from alerts.models import Alert
from alerts.services import raise_alert
from tests.conftest import PASSWORD
from tests.media import bus_image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"),
                       reason="Debian's chromium is not installed (apt-get install -y chromium)"),
]


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    """Playwright's sync API keeps an event loop on this thread, which makes Django refuse ORM calls
    here; they are plain blocking calls in this test, so allow them (as Playwright's docs advise)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _media_root(settings):
    """The media view took its folder from MEDIA_ROOT when the URLs were first loaded (maybe during
    another test); snapshots are written to that same folder so that the browser can load them."""
    from django.urls import resolve

    served = Path(resolve("/media/probe.jpg").kwargs["document_root"])
    served.mkdir(parents=True, exist_ok=True)
    settings.MEDIA_ROOT = served


def raise_from_worker(**kwargs) -> Alert:
    """raise_alert on a thread of its own, as an embedded monitoring worker calls it (this test's own
    thread carries Playwright's event loop, where the live push cannot block)."""
    from django.db import connection

    result: dict = {}

    def work():
        try:
            result["alert"] = raise_alert(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            result["error"] = exc
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=30)
    if "error" in result:
        raise result["error"]
    return result["alert"]


@pytest.fixture
def server():
    """uvicorn serving aimonitor.asgi on a free loopback port, in a thread of this process (so it
    shares the test database and, without Redis, the in-memory channel layer)."""
    import uvicorn
    from django.db import connections

    # The server's threads open their own connections; closing them after every request (instead of
    # keeping them for CONN_MAX_AGE) leaves none behind to block the test database's teardown.
    db_settings = connections.settings["default"]
    kept_age = db_settings.get("CONN_MAX_AGE", 0)
    db_settings["CONN_MAX_AGE"] = 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config("aimonitor.asgi:application", host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", ws="websockets-sansio")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    db_settings["CONN_MAX_AGE"] = kept_age
    assert not thread.is_alive()


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
        # While Playwright runs, the test's ORM calls get connections of their own (Django keys them
        # by context); close them here, in that context, or they outlive the test database.
        from django.db import connections

        connections.close_all()


def test_console_shows_live_alerts_and_processes_them(server, browser, make_user, make_stream):
    operator = make_user("operator", "olga")
    stream = make_stream("Loading dock")
    earlier = raise_from_worker(alert_type="fall", level="info", detections=[], frame=None, stream=stream)
    frame = bus_image()

    page = browser.new_page()
    page.goto(f"{server}/console/")
    page.fill("#username", "olga")
    page.fill("#password", "wrong password")
    page.click("#login-button")
    page.wait_for_selector("#login-error:has-text('Wrong username or password.')", timeout=5000)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector(f'[data-alert-id="{earlier.pk}"]', timeout=5000)
    page.wait_for_selector('#connection[data-state="open"]', timeout=5000)

    # An alert raised server-side (from another thread, as a monitoring worker does) shows up live.
    started = time.monotonic()
    alert = raise_from_worker(alert_type="intrusion_detection", level="critical", frame=frame,
                              stream=stream, detections=[{"class": "person", "class_id": 0, "confidence": 0.93,
                                                          "bbox": [50, 400, 245, 905]}])
    card = f'[data-alert-id="{alert.pk}"]'
    page.wait_for_selector(card, timeout=1000)
    assert time.monotonic() - started < 1.0
    assert page.get_attribute(card, "data-level") == "critical"
    assert "person 0.93" in page.inner_text(card) and "Loading dock" in page.inner_text(card)
    # Newest first, and the snapshot really loads.
    assert page.eval_on_selector("#alerts", "el => el.firstElementChild.dataset.alertId") == str(alert.pk)
    page.wait_for_function(f"document.querySelector('{card} img').naturalWidth > 0", timeout=5000)
    assert page.eval_on_selector(f"{card} img", "img => img.naturalWidth") == 810

    page.click(f'{card} button[data-action="processed"]')
    page.wait_for_selector(f'{card}[data-status="processed"]', timeout=5000)
    page.wait_for_selector(f"{card} .status:has-text('by olga')", timeout=5000)
    alert.refresh_from_db()
    assert (alert.status, alert.processed_by_id) == ("processed", operator.pk)

    # The socket drops; an alert raised meanwhile arrives after the reconnect (push or since_id catch-up).
    page.evaluate("window.aimConsole.socket.close()")
    page.wait_for_selector('#connection[data-state="closed"]', timeout=2000)
    missed = raise_from_worker(alert_type="intrusion_detection", level="warning", detections=[], frame=None,
                               stream=stream)
    page.wait_for_selector(f'[data-alert-id="{missed.pk}"]', timeout=5000)
    page.wait_for_selector('#connection[data-state="open"]', timeout=5000)
    assert Alert.objects.count() == 3
    page.close()


def test_viewer_sees_alerts_but_no_processing_buttons(server, browser, make_user, make_stream):
    make_user("viewer", "vera")
    stream = make_stream("Lobby")
    page = browser.new_page()
    page.goto(f"{server}/console")
    page.fill("#username", "vera")
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector('#connection[data-state="open"]', timeout=5000)
    alert = raise_from_worker(alert_type="fall", level="warning", detections=[], frame=None, stream=stream)
    page.wait_for_selector(f'[data-alert-id="{alert.pk}"]', timeout=1000)
    assert page.query_selector(f'[data-alert-id="{alert.pk}"] button') is None
    page.close()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_exports_stream_under_the_asgi_server(server, make_user, make_alert, kind, recwarn):
    """Under ASGI, Django reads a plain iterator to the end before sending; the export must hand it
    an async one instead (no "must consume synchronous iterators" warning) and still be complete."""
    import io
    import urllib.request

    from openpyxl import load_workbook
    from rest_framework_simplejwt.tokens import AccessToken

    viewer = make_user("viewer")
    for level in ("info", "warning", "critical") * 50:
        make_alert(level=level, notes="+1 call me")
    request = urllib.request.Request(f"{server}/api/alerts/export?format={kind}&level=critical",
                                     headers={"Authorization": f"Bearer {AccessToken.for_user(viewer)}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        body = response.read()
    if kind == "csv":
        lines = body.decode().strip().splitlines()
        assert len(lines) == 51 and lines[1].split(",")[3] == "critical" and "'+1 call me" in lines[1]
    else:
        rows = list(load_workbook(io.BytesIO(body), read_only=True)["alerts"].iter_rows(values_only=True))
        assert len(rows) == 51 and {r[3] for r in rows[1:]} == {"critical"}
    assert not [w for w in recwarn.list if "synchronous iterators" in str(w.message)]
