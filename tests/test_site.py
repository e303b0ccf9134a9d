"""The static leaderboard site: what each page holds, and (in headless Chromium) that it works."""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from robustbench_snn.evaluation.masking import FLAG_MEANINGS
from robustbench_snn.results.report import Sources
from robustbench_snn.results.site import OTHER_FLAGS, site_files, write_site

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
#: CI sets this (.ci/run installs Chromium), so there a missing browser fails instead of skipping.
REQUIRE_BROWSER = os.environ.get("RBSNN_REQUIRE_BROWSER") == "1"
#: Robust accuracies whose text order differs from their numeric order.
ROBUST = [9.5, 100.0, 80.0, 10.0, 55.25]


def small_board(tmp_path: Path) -> Sources:
    """A checkout with one board: five committed digits rows with ROBUST as robust
    accuracy (clean 100), the second flagged, the last at eps 0.1 (so above the best known at
    8/255: flagged weaker-than-smaller-eps), and one committed certified board."""
    from robustbench_snn.results.provenance import ROOT

    boards = tmp_path / "leaderboards"
    boards.mkdir()
    df = pd.read_csv(ROOT / "leaderboards" / "digits_linf.csv").head(len(ROBUST)).copy()
    df["robust_acc"] = ROBUST
    df["clean_acc"] = 100.0  # no robust accuracy may exceed its clean one (leaderboard.check_ranges)
    df["flags"] = ["", "blackbox-beats-white;not-converged", "", "", ""]
    df.loc[4, "eps"] = 0.1  # 55.25 at 0.1, above the 9.5 at 8/255: weaker-than-smaller-eps
    df.to_csv(boards / "digits_linf.csv", index=False)
    shutil.copy(ROOT / "leaderboards" / "digits_certified.csv", boards)
    shutil.copytree(ROOT / "leaderboards" / "certified", boards / "certified")
    return Sources(tmp_path)


def test_every_board_has_a_page_and_its_plot(tmp_path):
    src = small_board(tmp_path)
    files = site_files(src)
    assert set(files) == {"index.html", "digits_linf.html", "digits_linf_eps.svg", "digits_certified.html", "digits_certified.png"}
    index = files["index.html"].decode()
    assert 'href="digits_linf.html"' in index and 'href="digits_certified.html"' in index
    page = files["digits_linf.html"].decode()
    assert 'src="digits_linf_eps.svg"' in page and "<script>" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched


def test_flags_are_badges_with_their_meaning(tmp_path):
    page = site_files(small_board(tmp_path))["digits_linf.html"].decode()
    from html import escape

    for flag in ("blackbox-beats-white", "not-converged"):
        assert f'title="{escape(FLAG_MEANINGS[flag])}">{flag}</span>' in page
    assert f'title="{escape(OTHER_FLAGS["weaker-than-smaller-eps"])}">weaker-than-smaller-eps</span>' in page
    assert page.count('class="badge flag"') == 3


def test_best_known_cannot_rise_with_eps_and_a_weaker_row_is_flagged():
    """Every eps-ball holds the smaller ones: the best known value at a budget is the lowest at
    it or any smaller one, and a row above that is flagged (issue 43's two MNIST rows)."""
    from robustbench_snn.results.leaderboard import best_known, weaker_than_smaller_eps

    df = pd.DataFrame({"model": ["a", "a", "a", "b", "b"], "T": [4, 4, 4, 4, 8], "eps": [0.01, 0.03, 0.1, 0.03, 0.1],
                       "robust_acc": [60.0, 43.3, 51.6, 90.0, 95.0], "attack": ["pgd", "standard", "pgd", "pgd", "pgd"]})
    best = best_known(df).set_index(["model", "T", "eps"])
    assert best.robust_acc.tolist() == [60.0, 43.3, 43.3, 90.0, 95.0]  # b at T=8 is another curve
    assert best.loc[("a", 4, 0.1)].attack == "standard" and best.loc[("a", 4, 0.1)].found_at_eps == 0.03
    assert weaker_than_smaller_eps(df).tolist() == [False, False, True, False, False]


@pytest.mark.artifacts
def test_the_committed_mnist_board_is_monotone_and_its_two_weaker_rows_are_badged(tmp_path):
    from robustbench_snn.results.leaderboard import WEAKER_THAN_SMALLER_EPS, at_own_t, best_known, read
    from robustbench_snn.results.provenance import ROOT

    board = read(ROOT / "leaderboards" / "mnist_linf.csv")
    for model, curve in best_known(board[at_own_t(board)]).groupby("model"):
        values = curve.sort_values("eps").robust_acc.tolist()
        assert values == sorted(values, reverse=True), model
    page = site_files()["mnist_linf.html"].decode()
    assert page.count(f">{WEAKER_THAN_SMALLER_EPS}</span>") == 2


def test_each_row_carries_its_command_and_breakdown(tmp_path):
    src = small_board(tmp_path)
    page = site_files(src)["digits_linf.html"].decode()
    df = src.board("digits_linf")
    from html import escape

    for command in df.command:
        assert escape(command) in page
    assert page.count('<tr class="row"') == page.count('<tr class="detail" hidden>') == len(df)


def test_hostile_cells_are_text_not_markup(tmp_path):
    """A leaderboard is written by anyone who submits: every cell a row carries (model name,
    attack, flags, command, parameters, per-attack column names) reaches the page escaped, so
    a crafted row can neither run script nor break out of its cell."""
    src = small_board(tmp_path)
    df = pd.read_csv(tmp_path / "leaderboards" / "digits_linf.csv")
    payload = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    df = pd.concat([df, df.iloc[[4]].assign(eps=0.1)], ignore_index=True)  # two eps: a curve in the plot
    df["model"] = payload  # every row: the plot's legend names it too
    df.loc[0, ["defense", "encoder", "neuron", "attack", "surrogate_attack", "source"]] = payload
    df.loc[0, "flags"] = payload
    df.loc[0, "command"] = "rbsnn eval </code></pre>" + payload
    df.loc[0, "params"] = '{"x": "' + payload.replace('"', "'") + '"}'
    df[f"acc_{payload}"] = 50.0
    df.to_csv(tmp_path / "leaderboards" / "digits_linf.csv", index=False)
    files = site_files(src)
    page = files["digits_linf.html"].decode()
    assert "<img src=x" not in page and "alert(2)</script>" not in page
    assert page.count("<script>") == 1  # the page's own sorting script, nothing else
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page  # shown, as text
    svg = files["digits_linf_eps.svg"].decode()  # the plot's legend names models too
    assert "<script" not in svg and "<img" not in svg and "&lt;script&gt;alert(2)" in svg


def test_write_site_creates_the_folder(tmp_path):
    files = write_site(tmp_path / "out" / "site", small_board(tmp_path))
    assert (tmp_path / "out" / "site" / "index.html").is_file() and len(files) == 5


def _browser(tmp_path):
    """A headless Debian Chromium driven by selenium, or a skip saying what is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        reason = f"browser test needs {', '.join(missing)}: apt-get install -y chromium chromium-driver (.ci/run does)"
        if REQUIRE_BROWSER:
            pytest.fail(reason)
        pytest.skip(reason)
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not look for drivers online
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def test_site_in_a_real_browser(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    write_site(tmp_path / "site", small_board(tmp_path))
    driver = _browser(tmp_path)
    try:
        driver.get((tmp_path / "site" / "digits_linf.html").as_uri())
        Select(driver.find_element(By.NAME, "attack")).select_by_value("")  # every attack

        def robust_column() -> list[float]:
            return [float(row.find_elements(By.TAG_NAME, "td")[9].get_attribute("data-value"))
                    for row in driver.find_elements(By.CSS_SELECTOR, "tr.row") if row.is_displayed()]

        assert sorted(robust_column()) == sorted(ROBUST)
        header = driver.find_element(By.XPATH, "//th[text()='robust']")
        header.click()
        assert robust_column() == sorted(ROBUST, reverse=True)  # numerically: 100 before 80 before 9.5
        header.click()
        assert robust_column() == sorted(ROBUST)
        ranks = [row.find_element(By.CSS_SELECTOR, "td.rank").text for row in driver.find_elements(By.CSS_SELECTOR, "tr.row")]
        assert ranks == [str(i) for i in range(1, len(ROBUST) + 1)]

        flagged = [row for row in driver.find_elements(By.CSS_SELECTOR, "tr.row")
                   if row.find_elements(By.XPATH, ".//span[contains(@class, 'flag') and text()='blackbox-beats-white']")]
        assert len(flagged) == 1
        badge = flagged[0].find_element(By.CSS_SELECTOR, ".badge.flag")
        assert badge.is_displayed() and badge.text == "blackbox-beats-white"
        assert badge.get_attribute("title") == FLAG_MEANINGS["blackbox-beats-white"]

        detail = flagged[0].find_element(By.XPATH, "following-sibling::tr[1]")
        assert not detail.is_displayed()
        flagged[0].find_element(By.CSS_SELECTOR, "button.expand").click()
        assert detail.is_displayed() and "rbsnn eval" in detail.text

        weaker = driver.find_elements(By.XPATH, "//span[contains(@class, 'flag') and text()='weaker-than-smaller-eps']")
        assert len(weaker) == 1 and weaker[0].get_attribute("title") == OTHER_FLAGS["weaker-than-smaller-eps"]
        assert weaker[0].find_element(By.XPATH, "ancestor::tr[1]").get_attribute("data-eps") == "0.1"

        driver.get((tmp_path / "site" / "index.html").as_uri())
        driver.find_element(By.LINK_TEXT, "digits_certified").click()
        assert driver.find_element(By.CSS_SELECTOR, "img.plot").get_attribute("naturalWidth") != "0"  # the plot file loads
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
