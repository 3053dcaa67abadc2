"""The editors' page in headless Chromium: with the admin key it lists the review queue and the curated
answers; a question that got the fallback is made a curated answer from its row (served at once), and an
answer is deleted from the list."""

import time

import pytest

from tests.server.test_compare_page import browser  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.browser]
UNANSWERED = "Do you gift-wrap orders for birthdays?"
GIFT_WRAP = "Yes: choose Gift wrap at checkout; it costs $4 and includes a card."


def ask(server, question: str) -> dict:
    reply = server.client().chat.completions.create(
        model=server.base_model, messages=[{"role": "user", "content": question}], max_tokens=30
    )
    return {"text": reply.choices[0].message.content, **reply.model_extra}


def test_list_promote_and_delete_on_the_editors_page(live_server, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    assert ask(live_server, UNANSWERED)["handoff"]["reason"] == "fallback"
    admin = live_server.admin()
    listed = admin.post("/admin/answers", json={"question": "Is there a student discount?", "answer": "No."})
    kept_id = listed.json()["answer"]["id"]
    deadline = time.monotonic() + 30  # the log is written off the request path
    while not any(r["question"] == UNANSWERED for r in admin.get("/admin/review").json()["data"]):
        assert time.monotonic() < deadline, "the fallback never reached the review queue"
        time.sleep(0.5)

    browser.get(live_server.url + "/admin")
    browser.find_element(By.ID, "admin-key").send_keys(live_server.admin_key, Keys.ENTER)
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    answers = browser.find_element(By.ID, "answers")
    assert "Is there a student discount?" in answers.text
    [row] = [r for r in browser.find_elements(By.CSS_SELECTOR, "#review tbody tr") if UNANSWERED in r.text]
    assert "fallback 1" in row.text

    row.find_element(By.CSS_SELECTOR, ".make-answer").click()
    assert browser.find_element(By.ID, "edit-question").get_attribute("value") == UNANSWERED
    browser.find_element(By.ID, "edit-answer").send_keys(GIFT_WRAP)
    browser.find_element(By.ID, "save").click()
    wait.until(lambda d: GIFT_WRAP in d.find_element(By.ID, "answers").text)
    served = ask(live_server, UNANSWERED)
    assert served["text"] == GIFT_WRAP and served["curated"]["question"] == UNANSWERED

    [promoted] = [a for a in admin.get("/admin/answers").json()["data"] if a["question"] == UNANSWERED]
    browser.find_element(By.CSS_SELECTOR, f'#answers tr[data-id="{promoted["id"]}"] .delete').click()
    wait.until(lambda d: GIFT_WRAP not in d.find_element(By.ID, "answers").text)
    assert all(a["id"] != promoted["id"] for a in admin.get("/admin/answers").json()["data"])
    assert admin.delete(f"/admin/answers/{kept_id}").status_code == 200
    admin.close()
