"""The viewer page at ``GET /`` of a real ``bentoml serve``, driven in headless Chromium."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.pages.browser import screenshot
from tests.serving.conftest import RunningServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]

WAIT = 30
STREAMING = {"flatrate", "free", "ads"}


def wait(driver: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT)


def words(text: str) -> set[str]:
    """The words of a title, whichever end its article is shown at."""
    return set(re.sub(r"[^\w']+", " ", text.lower()).split())


def test_cards_put_the_article_first(browser: Any, server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    open_viewer(browser, server.url)
    shelves = [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".shelf button")]
    assert "The Godfather (1972)" in shelves and not any(t.endswith(", The") for t in shelves)


def open_viewer(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".shelf button"))
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#platforms input"))


def pick_by_keyboard(driver: Any, query: str) -> str:
    """Type ``query`` in the search box, take the first suggestion with the keyboard."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "search")
    box.send_keys(query)

    def first_match(d: Any) -> Any:
        options = d.find_elements(By.CSS_SELECTOR, "#search-results [role=option][data-item-id]")
        return options[0] if options and query.lower() in options[0].text.lower() else False

    option = wait(driver).until(first_match)
    item_id = option.get_attribute("data-item-id")
    box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#picked li[data-item-id='{item_id}']"))
    return str(item_id)


def cards(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, "#cards .card"))


def ten_cards(driver: Any) -> list[Any]:
    wait(driver).until(lambda d: len(cards(d)) == 10 or d.find_element("id", "error").is_displayed())
    assert not driver.find_element("id", "error").is_displayed(), driver.find_element("id", "error").text
    return cards(driver)


def test_search_pick_three_gives_ten_cards_with_platforms_and_reasons(
        browser: Any, server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    open_viewer(browser, server.url)
    picked = [pick_by_keyboard(browser, q) for q in ("star wars", "toy story", "fargo")]
    assert len(set(picked)) == 3
    browser.find_element(By.ID, "recommend-new").click()
    shown = ten_cards(browser)
    # the page shows what the API answers for the same request, card for card
    answer = httpx.post(server.url + "/recommend_new_user",
                        json={"liked_item_ids": [int(i) for i in picked], "k": 10, "region": "US"},
                        timeout=30).json()
    assert [c.get_attribute("data-item-id") for c in shown] == [str(m["item_id"]) for m in answer["items"]]
    with_offers = 0
    for card, movie in zip(shown, answer["items"], strict=True):
        assert words(movie["title"]) == words(card.find_element(By.TAG_NAME, "h3").text.split(".", 1)[1])
        meta = card.find_element(By.CLASS_NAME, "meta").text
        assert str(movie["year"]) in meta and meta.count(",") + 1 >= 1  # year and genres
        badges = card.find_elements(By.CSS_SELECTOR, ".badge[data-platform]")
        assert {(b.get_attribute("data-platform"), b.get_attribute("data-offer")) for b in badges} == \
            {(o["platform"], o["offer_type"]) for o in movie["availability"] or []}
        with_offers += bool(badges)
        reasons = card.find_elements(By.CLASS_NAME, "because")
        if movie.get("because"):
            assert all(words(b["title"]) <= words(reasons[0].text) for b in movie["because"])
        else:
            assert not reasons
    assert with_offers >= 3, "the catalogues cover these popular movies: badges expected"
    assert browser.execute_script("return document.getElementById('picked').children.length") == 3
    screenshot(browser, "viewer-desktop")
    browser.set_window_size(375, 812)
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"), "wider than a phone"
    screenshot(browser, "viewer-phone")


def test_only_what_i_can_stream_keeps_every_card_on_the_platform(
        browser: Any, server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    open_viewer(browser, server.url)
    pick_by_keyboard(browser, "star wars")
    browser.find_element(By.ID, "platform-netflix").click()
    browser.find_element(By.ID, "only-stream").click()
    browser.find_element(By.ID, "recommend-new").click()
    for card in ten_cards(browser):
        offers = {(b.get_attribute("data-platform"), b.get_attribute("data-offer"))
                  for b in card.find_elements(By.CSS_SELECTOR, ".badge[data-platform]")}
        assert any(p == "netflix" and o in STREAMING for p, o in offers), card.text


def test_unknown_user_id_shows_the_cold_start_note(browser: Any, server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    open_viewer(browser, server.url)
    field = browser.find_element(By.ID, "user-id")
    field.send_keys("987654321")
    field.submit()
    ten_cards(browser)
    note = browser.find_element(By.ID, "note")
    assert note.is_displayed() and "cold start" in note.text and "987654321" in note.text


def test_known_user_id_uses_recommend_without_the_note(browser: Any, server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    open_viewer(browser, server.url)
    field = browser.find_element(By.ID, "user-id")
    field.send_keys("196")
    field.submit()
    shown = ten_cards(browser)
    answer = httpx.post(server.url + "/recommend", json={"user_id": 196, "k": 10}, timeout=30).json()
    assert [c.get_attribute("data-item-id") for c in shown] == [str(m["item_id"]) for m in answer["items"]]
    assert not browser.find_element(By.ID, "note").is_displayed()


def test_api_error_is_shown_in_words(browser: Any, server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    open_viewer(browser, server.url)
    field = browser.find_element(By.ID, "user-id")
    field.send_keys("99999999999999999999")  # beyond the service's id bound: a 400
    field.submit()
    error = wait(browser).until(lambda d: d.find_element(By.ID, "error").is_displayed()
                                and d.find_element(By.ID, "error"))
    assert "HTTP 400" in error.text and "user_id" in error.text
    assert not cards(browser)
    # nothing picked: the page says what to do instead of sending an empty request
    browser.find_element(By.ID, "recommend-new").click()
    wait(browser).until(lambda d: "Pick" in d.find_element(By.ID, "error").text)


def test_page_is_offline_labelled_and_keyboard_reachable(browser: Any, server: RunningServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_viewer(browser, server.url)
    origin = urlsplit(server.url).netloc
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(urlsplit(r).netloc == origin for r in resources), resources
    unlabelled = browser.execute_script("""
        return [...document.querySelectorAll('input, select, button')].filter(e =>
            !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
            && !(e.tagName === 'BUTTON' && e.textContent.trim())).map(e => e.outerHTML)""")
    assert unlabelled == []
    # Tab from the top reaches the search box, then the recommend button, without a mouse
    body = browser.find_element(By.TAG_NAME, "body")
    reached = []
    for _ in range(200):
        body.send_keys(Keys.TAB) if not reached else browser.switch_to.active_element.send_keys(Keys.TAB)
        reached.append(browser.switch_to.active_element.get_attribute("id"))
        if "recommend-new" in reached:
            break
    assert "search" in reached and "recommend-new" in reached


def test_catalogue_endpoints_refuse_bad_input(client: httpx.Client) -> None:
    assert client.get("/items/info", params={"ids": "1,x"}).status_code == 400
    assert client.get("/items/search", params={"q": "star", "limit": 0}).status_code == 422
    assert client.get("/items/search", params={"q": ""}).json()["items"] == []
    found = client.get("/items/search", params={"q": "wars"}).json()["items"]
    assert found[0]["title"] == "Star Wars" and "Sci-Fi" in found[0]["genres"]


@pytest.fixture(scope="module")
def tmdb_server(tmp_path_factory: pytest.TempPathFactory, served_model_dir: Any,
                ml100k_dir: Any) -> Any:
    """A real ``bentoml serve`` with TMDB (JustWatch) availability answered from its on-disk
    cache: every movie has a cached TMDB answer, every third one with offers of each kind."""
    import json
    from datetime import UTC, datetime

    import pandas as pd
    import yaml

    from tests.serving.conftest import ROOT, bentoml_serve

    folder = tmp_path_factory.mktemp("serve-tmdb")
    items = pd.read_parquet(ml100k_dir / "items.parquet")
    items["tmdb_id"] = items["item_id"] + 500_000
    items.to_parquet(folder / "items.parquet", index=False)
    cache = folder / "tmdb-cache"
    cache.mkdir()
    now = datetime.now(UTC).isoformat()
    for item_id, tmdb_id in zip(items["item_id"], items["tmdb_id"], strict=True):
        offers = {"link": f"https://www.themoviedb.org/movie/{tmdb_id}/watch?locale=US",
                  "flatrate": [{"provider_name": "Netflix"}],
                  "rent": [{"provider_name": "Apple TV"}], "buy": [{"provider_name": "Apple TV"}],
                  "free": [{"provider_name": "Tubi TV"}]}
        body = {"id": int(tmdb_id), "results": {"US": offers} if item_id % 3 == 0 else {}}
        (cache / f"{tmdb_id}.json").write_text(json.dumps(
            {"tmdb_id": int(tmdb_id), "fetched_at": now, "status": 200, "body": body}))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["serve"]["tmdb_cache_dir"] = str(cache)
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    env = {"MOVIEREC_MODEL_DIR": str(served_model_dir), "MOVIEREC_ITEMS": str(folder / "items.parquet"),
           "MOVIEREC_AVAILABILITY": "tmdb", "TMDB_API_KEY": "test-key",
           # nothing listens there: every answer must come from the cache
           "TMDB_BASE_URL": "http://127.0.0.1:9", "MOVIEREC_PARAMS": str(folder / "params.yaml"),
           "MOVIEREC_INFERENCE_LOG": str(folder / "inference.jsonl")}
    with bentoml_serve("bentos.service:MovieRecommender", folder, env) as running:
        yield running


def test_tmdb_availability_shows_justwatch_attribution_and_every_offer_type(
        browser: Any, tmdb_server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    open_viewer_without_platforms(browser, tmdb_server.url)
    pick_by_keyboard(browser, "star wars")
    browser.find_element(By.ID, "recommend-new").click()
    shown = ten_cards(browser)
    attribution = browser.find_element(By.ID, "attribution")
    assert attribution.is_displayed() and "JustWatch" in attribution.text
    offers = {b.get_attribute("data-offer") for card in shown
              for b in card.find_elements(By.CSS_SELECTOR, ".badge[data-platform]")}
    labels = {b.text.split(" · ")[-1] for card in shown
              for b in card.find_elements(By.CSS_SELECTOR, ".badge[data-platform]")}
    assert offers == {"flatrate", "rent", "buy", "free"}
    assert labels == {"subscription", "rent", "buy", "free"}


def open_viewer_without_platforms(driver: Any, url: str) -> None:
    """TMDB knows its platforms only once movies were fetched: the list may start empty."""
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".shelf button"))
