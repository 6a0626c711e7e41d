#!/usr/bin/env python3
"""The setup page in a real browser: headless Chromium driven over the DevTools protocol.

Usage: setup_page.py BASE_URL HOST OUT_DIR

BASE_URL is the plain-HTTP listener (http://127.0.0.1:PORT), HOST the served name the browser asks
for (autoconfig.<domain>; Chromium maps it to the listener). For phone (360 px) and desktop
(1,200 px) viewports it checks that nothing scrolls sideways, fills the address form and submits
it (the page must come back for that address), follows the profile link (a download must arrive)
and keeps a screenshot of each page in OUT_DIR. Prints one line per check; exits 1 on any failure.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import websocket  # websocket-client


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no chromium on PATH")


class Browser:
    """One headless Chromium and one page target, spoken to over CDP."""

    def __init__(self, host, port, profile_dir):
        self.proc = subprocess.Popen(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile_dir}",
                f"--host-resolver-rules=MAP {host} 127.0.0.1:{port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = os.path.join(profile_dir, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.05)
        devtools_port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def wait_event(self, name, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == name:
                return msg["params"]
        raise RuntimeError(f"no {name} within {timeout}s")

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r["result"].get("value")

    def navigate(self, url):
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def main():
    base, host, out = sys.argv[1], sys.argv[2], sys.argv[3]
    port = urllib.parse.urlparse(base).port
    os.makedirs(out, exist_ok=True)
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    profile = tempfile.mkdtemp(prefix="mailbeacon-chromium-")
    downloads = tempfile.mkdtemp(prefix="mailbeacon-downloads-")
    browser = Browser(host, port, profile)
    try:
        browser.call(
            "Browser.setDownloadBehavior", behavior="allow", downloadPath=downloads,
            eventsEnabled=True,
        )
        page_url = f"http://{host}:{port}/"
        for width in (320, 360, 1200):
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                width=width, height=900, deviceScaleFactor=1, mobile=width < 600,
            )
            browser.navigate(page_url)
            sizes = browser.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            check(sizes[0] <= sizes[1], f"{width} px: no horizontal scroll (scrollWidth {sizes[0]}, innerWidth {sizes[1]})")
            shot = browser.call("Page.captureScreenshot", format="png")
            with open(os.path.join(out, f"setup-{width}px.png"), "wb") as f:
                f.write(base64.b64decode(shot["data"]))

        # The form, as a person would use it: type the address, press the button.
        browser.navigate(page_url)
        browser.evaluate(
            "document.getElementById('emailaddress').value = 'ann.lee@" + host.split(".", 1)[1] + "';"
            "document.querySelector('form button').click();"
        )
        browser.wait_event("Page.loadEventFired")
        location = browser.evaluate("location.href")
        check("emailaddress=ann.lee%40" in location, f"form submits the address: {location}")
        text = browser.evaluate("document.body.innerText")
        check("ann.lee@" in text, "the page comes back with the address as username")
        sizes = browser.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        check(sizes[0] <= sizes[1], "the answered page does not scroll sideways either")
        shot = browser.call("Page.captureScreenshot", format="png")
        with open(os.path.join(out, "setup-with-address.png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))

        # The profile link downloads a profile.
        href = browser.evaluate("document.querySelector('a[href*=mobileconfig]').href")
        check(bool(href), f"profile link present: {href}")
        browser.evaluate("document.querySelector('a[href*=mobileconfig]').click()")
        done = None
        deadline = time.time() + 20
        while time.time() < deadline and done is None:
            msg = json.loads(browser.ws.recv())
            if msg.get("method") == "Browser.downloadProgress" and msg["params"]["state"] in ("completed", "canceled"):
                done = msg["params"]["state"]
        files = os.listdir(downloads)
        check(done == "completed" and len(files) == 1, f"profile downloaded: {done}, {files}")
        if files:
            data = open(os.path.join(downloads, files[0]), "rb").read()
            check(b"com.apple.mail.managed" in data, "the download is a mail profile")
            shutil.copy(os.path.join(downloads, files[0]), os.path.join(out, "downloaded.mobileconfig"))
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(downloads, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
