"""mailroom-web in a real browser (Debian's chromium, driven by selenium through chromium-driver):
a superadmin creates a domain and its admin, that admin adds a mailbox, the new user logs in and
changes their password, then logs in with the new one and sets an out-of-office reply. A screenshot of every page goes to OUTDIR.

usage: flow.py BASE_URL SUPERADMIN PASSWORD OUTDIR
"""
import os
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

base, superadmin, password, outdir = sys.argv[1:5]
os.makedirs(outdir, exist_ok=True)

opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--ignore-certificate-errors",
            "--window-size=1200,900", "--disable-gpu"):
    opts.add_argument(arg)
driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))
driver.set_page_load_timeout(60)
shots = 0


def shot(name):
    global shots
    shots += 1
    driver.save_screenshot(os.path.join(outdir, f"{shots:02d}-{name}.png"))


def left(button):
    """Whether `button`'s page is gone. Chromium reports a node detached mid-navigation either
    as a stale element or, while the old document is being torn down, as an inspector error
    ("Node with given id does not belong to the document"): both mean the page was left."""
    def gone(_):
        try:
            button.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
    return gone


def submit(button):
    """Click a submit button and wait until the browser has left its page (the old page's
    elements go stale once the answer to the form is loaded)."""
    button.click()
    WebDriverWait(driver, 60).until(left(button))


def form(action):
    return driver.find_element(By.CSS_SELECTOR, f'form[action="{action}"]')


def fill(action, **fields):
    f = form(action)
    for name, value in fields.items():
        el = f.find_element(By.NAME, name)
        if el.get_attribute("type") == "checkbox":
            if bool(value) != el.is_selected():
                el.click()
        else:
            el.clear()
            el.send_keys(value)
    submit(f.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def expect(text):
    body = driver.find_element(By.TAG_NAME, "body").text
    if text not in body:
        shot("failed")
        sys.exit(f"expected {text!r} on {driver.current_url}:\n{body}")


def login(user, pw, landing):
    driver.get(base + "/login")
    shot("login-form")
    fill("/login", username=user, password=pw)
    if not driver.current_url.endswith(landing):
        shot("login-failed")
        sys.exit(f"{user}: landed on {driver.current_url}, not {landing}")


def logout():
    submit(form("/logout").find_element(By.CSS_SELECTOR, "button[type=submit]"))
    expect("You are logged out.")


try:
    # The superadmin: a domain, and its admin.
    login(superadmin, password, "/admin")
    shot("superadmin-overview")
    driver.get(base + "/admin/domains")
    fill("/admin/domains", domain="shop.test", description="The shop", mailboxes="10", aliases="0", maxquota="100")
    expect("The domain was added.")
    expect("shop.test")
    shot("domain-added")
    driver.get(base + "/admin/admins")
    fill("/admin/admins", username="boss@shop.test", password="boss-pass-1", again="boss-pass-1", domains="shop.test")
    expect("The admin was added.")
    shot("admin-added")
    logout()

    # The domain admin: a mailbox.
    login("boss@shop.test", "boss-pass-1", "/admin")
    expect("admin of shop.test")
    submit(driver.find_element(By.LINK_TEXT, "shop.test"))
    shot("domain-page")
    fill("/admin/domains/shop.test/mailboxes", local_part="carol", name="Carol", password="carol-pass-1",
         again="carol-pass-1", quota="50")
    expect("The mailbox was added.")
    expect("carol@shop.test")
    shot("mailbox-added")
    logout()

    # The user: a new password, and a login with it.
    login("carol@shop.test", "carol-pass-1", "/account")
    shot("account")
    fill("/account/password", current="carol-pass-1", new="carol-pass-2", again="carol-pass-2")
    expect("Your password was changed.")
    shot("password-changed")
    logout()
    login("carol@shop.test", "carol-pass-1", "/login")
    expect("Login failed.")
    shot("old-password-refused")
    login("carol@shop.test", "carol-pass-2", "/account")
    expect("Logged in as carol@shop.test")
    shot("new-password-works")

    # The user: an out-of-office reply (a Sieve script the test then compiles and runs).
    submit(driver.find_element(By.LINK_TEXT, "Out-of-office reply"))
    shot("vacation-form")
    fill("/account/vacation", on=True, subject="Away until Monday",
         reason='Back on Monday.\nUrgent: "ops" <ops@shop.test>', days="2")
    expect("Your out-of-office reply was saved.")
    shot("vacation-saved")
    driver.get(base + "/account/filters")
    expect("No rules yet.")
    shot("filters")
    # The stylesheet loaded under the CSP (the header is dark), and no script ran anywhere.
    color = driver.execute_script("return getComputedStyle(document.querySelector('header')).backgroundColor")
    print("header background", color)
finally:
    driver.quit()
print(f"browser flow ok, {shots} screenshots in {outdir}")
