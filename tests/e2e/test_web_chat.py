"""The chat in real Chromium against the stand-in through the local CloudFront: people chat in a room,
a newcomer gets the history, presence follows, every command answers, hostile text stays text, and a
page that loses the stand-in shows it, recovers by itself and loses nothing it had accepted."""

from __future__ import annotations

import re

import pytest

from tests.e2e.web_stack import CHROMIUM, CHROMIUM_ARGS, Page, WebStack, require_chromium
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def stack(tmp_path):
    running = WebStack(tmp_path)
    yield running
    running.close()


def signed_in(stack: WebStack, browser, *nicks: str) -> list[Page]:
    pages = [Page(browser, stack.url) for _ in nicks]
    for page, nick in zip(pages, nicks, strict=True):
        page.sign_in(nick)
    return pages


def message_texts(page: Page) -> list[str]:
    return page.texts("#messages li.message .text")


def test_two_people_chat_a_third_gets_the_history_and_presence_follows(stack, browser, tmp_path):
    ada, bob = signed_in(stack, browser, "ada", "bob")
    ada.say("hello from ada")
    wait_for(lambda: "hello from ada" in message_texts(bob), 10, "bob to see ada's message")
    bob.say("hi ada")
    wait_for(lambda: "hi ada" in message_texts(ada), 10, "ada to see bob's reply")
    wait_for(
        lambda: ada.page.locator("#messages li[data-status=sent]").count() == 1, 10, "ada's message sent"
    )
    wait_for(lambda: {"ada", "bob"} <= set(ada.texts("#presence li")), 10, "ada to see both here")
    cat = Page(browser, stack.url)
    cat.sign_in("cat")
    wait_for(lambda: message_texts(cat)[:2] == ["hello from ada", "hi ada"], 10, "cat to get the history")
    wait_for(lambda: "cat" in ada.texts("#presence li"), 10, "ada to see cat arrive")
    cat.close()
    wait_for(lambda: "cat" not in ada.texts("#presence li"), 10, "ada to see cat go")
    ada.page.screenshot(path=str(tmp_path / "chat.png"))
    for page in (ada, bob):
        assert page.csp_violations() == [] and page.errors() == []
        assert all(
            url.startswith(stack.url.rstrip("/")) or url.startswith("ws://127.0.0.1") for url in page.requests
        )
        page.close()


def test_every_command_answers_and_errors_are_shown(stack, browser):
    (ada,) = signed_in(stack, browser, "ada")
    ada.say("/rooms")
    wait_for(
        lambda: any(t.startswith("rooms: ") and "lobby" in t for t in ada.texts("#notices li")), 10, "/rooms"
    )
    ada.say("/who")
    wait_for(
        lambda: any(t.startswith("in lobby: ") and "ada" in t for t in ada.texts("#notices li")), 10, "/who"
    )
    ada.say("/nick ada2")
    wait_for(lambda: ada.page.inner_text("#me") == "ada2", 10, "/nick")
    ada.say("/join field")
    wait_for(lambda: ada.page.inner_text("#room-title") == "field", 10, "/join")
    ada.say("/history 5")
    ada.say("/dance")
    wait_for(
        lambda: any("unknown command /dance" in t for t in ada.texts("#notices li.error")), 10, "the error"
    )
    ada.say("x" * 1000 + "y")  # over the limit: the composer refuses it, maxlength 1000
    assert ada.csp_violations() == []
    ada.close()


XSS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss=2">',
    '"><svg/onload=window.__xss=3>',
    "javascript:window.__xss=4",
    "<iframe src=javascript:window.__xss=5></iframe>",
    "{{constructor.constructor('window.__xss=6')()}}",
]


def test_hostile_text_in_nicks_and_messages_is_inert(stack, browser):
    ada, bob = signed_in(stack, browser, "ada", "bob")
    for vector in XSS:
        ada.say(vector)
    wait_for(lambda: len(message_texts(bob)) >= len(XSS), 15, "every vector to arrive")
    assert message_texts(bob)[-len(XSS) :] == XSS  # shown as the text it is
    assert bob.page.evaluate("window.__xss") is None and ada.page.evaluate("window.__xss") is None
    assert bob.page.locator("#messages script, #messages img, #messages svg, #messages iframe").count() == 0
    for vector in XSS[:3]:  # as a room name: refused by the rule, the refusal shown as text
        ada.say(f"/join {vector}")
    wait_for(lambda: len(ada.texts("#notices li.error")) >= 3, 10, "the refusals")
    refusals = ada.texts("#notices li.error")[-3:]
    assert all("is not a room name" in t or "room must be 1 to 32" in t for t in refusals), refusals
    wait_for(lambda: ada.page.inner_text("#room-title") == "lobby", 10, "ada back in the lobby")
    assert ada.page.locator("#rooms button").count() == 3  # no room made of a refused name
    assert ada.page.evaluate("window.__xss") is None
    assert ada.page.locator("#notices script, #notices img, #notices svg, #rooms img").count() == 0
    assert ada.csp_violations() == [] and bob.csp_violations() == []
    ada.close()
    bob.close()


def test_a_hostile_nick_is_refused_and_the_refusal_is_text(stack, browser):
    page = Page(browser, stack.url)
    page.page.evaluate("document.querySelector('#nick').removeAttribute('pattern')")  # past the form's check
    page.page.fill("#nick", XSS[1][:32])
    page.page.press("#nick", "Enter")
    wait_for(lambda: page.page.inner_text("#sign-in-error") != "", 10, "the refusal")
    assert "nick must be" in page.page.inner_text("#sign-in-error")
    assert page.page.evaluate("window.__xss") is None and page.page.locator("#sign-in img").count() == 0
    assert page.csp_violations() == []
    page.close()


def test_the_page_survives_the_stand_in_restarting_and_loses_nothing_it_accepted(stack, browser):
    ada, bob = signed_in(stack, browser, "ada", "bob")
    ada.say("before")
    wait_for(lambda: "before" in message_texts(bob), 10, "the first message")
    stack.cloud.stop()
    wait_for(
        lambda: ada.page.get_attribute("#link-state", "data-state") == "reconnecting", 15, "reconnecting"
    )
    assert "reconnecting" in ada.page.inner_text("#link-state")
    away = ["while away", "away 2", "away 3"]
    for text in away:  # accepted by the page: pending until the stand-in is back
        ada.say(text)
    wait_for(lambda: ada.page.locator("#messages li[data-status=pending]").count() == 3, 5, "pending")
    stack.restart_cloud()
    wait_for(lambda: ada.page.get_attribute("#link-state", "data-state") == "online", 45, "ada back online")
    wait_for(lambda: bob.page.get_attribute("#link-state", "data-state") == "online", 45, "bob back online")
    wait_for(
        lambda: ada.page.locator("#messages li[data-status=sent]").count() == 4, 20, "the pending ones sent"
    )
    ada.say("after")
    wait_for(lambda: "after" in message_texts(bob), 15, "bob to get messages again")
    wait_for(lambda: set(away) <= set(message_texts(bob)), 15, "bob to get what was sent while away")
    texts = message_texts(ada)
    assert all(texts.count(text) == 1 for text in ["before", *away, "after"]), texts
    # Flushed together on reconnect, the three reach the server within a millisecond or so; a newcomer's
    # history has them in the order they were written.
    cat = Page(browser, stack.url)
    cat.sign_in("cat")
    wait_for(lambda: "after" in message_texts(cat), 10, "cat to get the history")
    assert message_texts(cat) == ["before", *away, "after"]
    for page in (ada, bob, cat):
        page.close()


def test_the_ids_the_page_makes_sort_in_the_order_it_made_them(stack, browser):
    page = Page(browser, stack.url)
    ids = page.page.evaluate(
        """async () => {
            const { newId } = await import("/js/chat.js");
            const ids = Array.from({ length: 5000 }, () => newId(1800000000000));  // one millisecond
            ids.push(newId(1799999999000), newId(Date.now()));  // clocks behind the last id: still after it
            return ids;
        }"""
    )
    assert len(set(ids)) == len(ids) and ids == sorted(ids)
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids
    )
    assert ids[0].startswith("01a3185c-5000-7000-")  # 1,800,000,000,000 ms, then the counter from 0
    assert ids[4096].startswith("01a3185c-5001-7000-")  # 4,096 in one millisecond: the next one's
    page.close()


def test_a_room_is_made_by_joining_it_others_see_it_unread_and_older_pages_load(stack, browser):
    ada, bob = signed_in(stack, browser, "ada", "bob")
    ada.say("/join kitchen")
    wait_for(lambda: ada.page.inner_text("#room-title") == "kitchen", 10, "ada in the new room")
    ada.say("in the kitchen")
    room = "#rooms button[data-room=kitchen]"
    wait_for(lambda: bob.page.locator(room).count() == 1, 10, "bob to see the new room")
    wait_for(lambda: bob.page.inner_text(f"{room} .badge") == "1", 10, "one unread there")
    bob.page.focus(room)
    bob.page.keyboard.press("Enter")  # keyboard only
    wait_for(lambda: "in the kitchen" in message_texts(bob), 10, "bob to read it")
    assert bob.page.locator(f"{room} .badge").count() == 0
    for n in range(60):
        ada.say(f"line {n:02d}")
    wait_for(lambda: len(message_texts(bob)) == 61, 30, "all 60 lines at bob")
    cat = Page(browser, stack.url)
    cat.sign_in("cat")
    cat.say("/join kitchen")
    wait_for(lambda: len(message_texts(cat)) == 50, 10, "the last 50 on join")
    assert message_texts(cat)[0] == "line 10" and cat.page.is_visible("#load-older")
    cat.page.click("#load-older")
    wait_for(lambda: len(message_texts(cat)) == 61, 10, "the older page")
    assert message_texts(cat)[:2] == ["in the kitchen", "line 00"]
    wait_for(lambda: not cat.page.is_visible("#load-older"), 10, "nothing older left")
    for page in (ada, bob, cat):
        page.close()


def test_the_layout_works_at_375_px_wide(stack, browser, tmp_path):
    page = Page(browser, stack.url)
    page.page.set_viewport_size({"width": 375, "height": 800})
    page.sign_in("ada")
    page.say("small screens too")
    wait_for(lambda: "small screens too" in message_texts(page), 10, "the message")
    width = page.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways: {width} px"
    assert page.page.is_visible("#composer-input") and page.page.is_visible("#rooms")
    page.page.screenshot(path=str(tmp_path / "chat-375.png"))
    page.close()


def test_the_token_is_renewed_before_it_expires_and_the_session_goes_on(tmp_path, browser):
    """Tokens that hold 10 s: the page renews at 8 s, keeps its client id, and after the first token
    has expired it still reconnects when the stand-in restarts (the old token would be refused)."""
    stack = WebStack(tmp_path, token_seconds=10)
    try:
        ada, bob = Page(browser, stack.url), Page(browser, stack.url)
        ada.sign_in("ada")
        bob.sign_in("bob")
        wait_for(lambda: ada.pump() or len(ada.sessions) >= 3, 30, "two renewals after the sign-in")
        assert len({s["clientId"] for s in ada.sessions}) == 1, "a renewal changed the client id"
        assert len({s["token"] for s in ada.sessions}) == len(ada.sessions)
        assert ada.page.get_attribute("#link-state", "data-state") == "online"
        stack.restart_cloud()
        wait_for(lambda: ada.page.get_attribute("#link-state", "data-state") == "online", 45, "ada back")
        ada.say("still me")
        wait_for(lambda: "still me" in message_texts(bob), 20, "bob to get it")
        ada.close()
        bob.close()
    finally:
        stack.close()
