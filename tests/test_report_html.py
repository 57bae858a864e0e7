"""The HTML report opens offline in a real browser (Debian's Chromium, headless) and shows each
tenant's days in the right colours; a screenshot of it is taken and checked."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector import ListingCount, MediaAvailability, Recording, iso
from collector._storage._catalog import AUDIO, Catalog, DayCount, StoredAudio, WorkPlan
from collector.engine import cli

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
DAY = datetime(2026, 5, 4, tzinfo=UTC)


def build_store(root: Path) -> Path:
    """Two tenants over three days: two days counted and reconciled, one not counted (by a plugin not
    installed here: "no vendor count"), and a failure on the last day of one."""
    root.mkdir(parents=True)
    catalog = Catalog(root / "catalog.sqlite")
    for tenant, failing_day in (("complete", None), ("troubled", 2)):
        for day in range(3):
            start = DAY + timedelta(days=day)
            recordings = [Recording(source="demo", tenant=tenant, vendor_id=f"{day}-{n}",
                                    start=start + timedelta(hours=n), duration=2.0, media=MediaAvailability.AVAILABLE,
                                    raw={"n": n}) for n in range(4)]
            listing = ListingCount(start, start + timedelta(days=1), 4, 4)
            catalog.commit_page("demo", tenant, recordings, [], {"day": day}, WorkPlan(transcripts=False), listing)
            if day < 2:
                catalog.record_vendor_counts([DayCount("demo", tenant, start.date().isoformat(), "UTC", iso(start),
                                                       iso(start + timedelta(days=1)), 4, "test")])
            for recording in recordings:
                if day == failing_day and recording.vendor_id.endswith("-0"):
                    catalog.deferred(AUDIO, recording.key, "The vendor refused it.", max_attempts=1)
                else:
                    catalog.audio_stored_many([(recording.key, StoredAudio(
                        "x", "0" * 64, 1, "wav", "pcm_16", 8000, 1, 2.0, evidence="complete"))])
    catalog.close()
    config = root.parent / "collector.toml"
    config.write_text(f'[store]\npath = "{root}"\n')
    return config


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver (scripts/test.sh "
                    "installs them)")
def test_the_html_report_renders_in_a_headless_browser(tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    config = build_store(tmp_path / "store")
    page = tmp_path / "report.html"
    assert cli(["--config", str(config), "report", "--html", str(page)]) == 0
    html = page.read_text()
    external = html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a namespace name, not a fetch
    assert "http://" not in external and "https://" not in external and "<script" not in html  # offline
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        browser.get(page.as_uri())
        assert browser.title == "Recording reconciliation"
        cells = browser.find_elements(By.CSS_SELECTOR, "#chart rect.cell")
        assert len(cells) == 6  # two tenants, three days each
        colours = {(cell.get_attribute("class") or "").split()[1] for cell in cells}
        assert colours == {"complete", "unreconciled", "problem"}
        fill = browser.execute_script(
            "return getComputedStyle(document.querySelector('#chart rect.complete')).fill")
        assert fill == "rgb(46, 139, 87)"  # the stylesheet embedded in the page applied
        rows = browser.find_elements(By.CSS_SELECTOR, "#days tbody tr")
        text = [row.text for row in rows]
        assert any("demo/complete 2026-05-04" in line and line.endswith("reconciled") for line in text), text
        assert any("demo/troubled 2026-05-06" in line and "1 listed recording not stored (1 failed): 2-0" in line
                   and line.endswith("no vendor count") for line in text), text
        assert any(line.startswith("all tenants total") for line in text), text
        shot = tmp_path / "report.png"
        assert browser.find_element(By.ID, "chart").screenshot(str(shot))
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
