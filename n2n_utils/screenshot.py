"""A screenshot of the explorer (notebook 07) in a real JupyterLab, taken by headless Chromium,
for the README: `make screenshots` (or `python -m n2n_utils.screenshot`).

It needs a Chromium (`apt-get install chromium`) besides the venv's JupyterLab; nothing in the
tests or the pipeline does. A copy of the notebook runs in a temporary folder in the smoke
profile (seconds), with its figures and results written there too, so the repository is left
as it was. Chromium is driven over its DevTools protocol (websocket-client, which JupyterLab
brings): JupyterLab is started with its app exposed to the page, the notebook opened and run
with JupyterLab's own commands, and the page photographed down to the end of the widgets.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .config import FIGURES_DIR, NOTEBOOKS_DIR, ROOT

NOTEBOOK = "07_explore.ipynb"
SCREENSHOT = FIGURES_DIR / "readme" / "explorer.png"
WIDTH = 1000  # px of the committed PNG: small enough for the repository, legible in the README


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float, every: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")


class DevTools:
    """The least of the Chrome DevTools protocol: send a command, wait for its answer."""

    def __init__(self, url: str):
        import websocket  # websocket-client, installed with JupyterLab

        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def __call__(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str):
        result = self("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")


def take_screenshot(out: Path = SCREENSHOT, chromium: str = "chromium", timeout: float = 300) -> Path:
    """Run the explorer in JupyterLab, photograph it, and write a PNG `WIDTH` pixels wide."""
    from PIL import Image

    from .files import write_atomic

    if not shutil.which(chromium):
        raise SystemExit(f"{chromium}: not found; install it (apt-get install chromium) or pass --chromium PATH")
    work = Path(tempfile.mkdtemp(prefix="n2n-screenshot-"))
    (work / "lab").mkdir()
    shutil.copy(NOTEBOOKS_DIR / NOTEBOOK, work / "lab" / NOTEBOOK)
    lab_port, cdp_port, token = _free_port(), _free_port(), secrets.token_hex(16)
    env = {**os.environ, "N2N_PROFILE": "smoke", "PYTHONPATH": str(ROOT), "N2N_FIGURES_DIR": str(work / "figures"),
           "N2N_RESULTS_DIR": str(work / "results"), "N2N_RUNS_DIR": str(work / "runs")}
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={lab_port}",
                            "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={work / 'lab'}",
                            "--LabApp.expose_app_in_browser=True", "--allow-root"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                f"--remote-debugging-port={cdp_port}", "--window-size=1400,1100",
                                f"--user-data-dir={work / 'chromium'}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{lab_port}"
        _wait("JupyterLab", lambda: urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).status == 200,
              timeout=120)
        pages = _wait("Chromium", lambda: [t for t in json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{cdp_port}/json/list", timeout=2)) if t["type"] == "page"], timeout=60)
        page = DevTools(pages[0]["webSocketDebuggerUrl"])
        page("Emulation.setFocusEmulationEnabled", enabled=True)  # else JupyterLab has no current notebook
        page("Page.navigate", url=f"{base}/lab/tree/{NOTEBOOK}?reset&token={token}")
        kernel = ("Array.from(window.jupyterapp?.shell.widgets('main') ?? []).find(w => w.sessionContext)"
                  "?.sessionContext?.session?.kernel?.status")
        _wait("the notebook's kernel", lambda: page.js(kernel) == "idle", timeout=120)
        page.js("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        _wait("the explorer's figure", lambda: page.js("!!document.querySelector('.widget-output img')"), timeout)
        _wait("the notebook to finish", lambda: page.js(kernel) == "idle", timeout)
        rect = page.js("""(() => { const box = document.querySelector('.widget-vbox');
            box.scrollIntoView({block: 'start'}); const r = box.getBoundingClientRect();
            return {x: r.x, y: r.y, width: r.width, height: r.height}; })()""")
        time.sleep(1)  # let the scroll settle
        width = page.js("window.innerWidth")  # JupyterLab's menus and file browser, down to the widgets' end
        shot = page("Page.captureScreenshot", format="png",
                    clip={"x": 0, "y": 0, "width": width, "height": rect["y"] + rect["height"] + 12, "scale": 1})
        image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
        image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
        image = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT)  # a third of the bytes
        write_atomic(out, lambda tmp: image.save(tmp, format="PNG", optimize=True))
        return out
    finally:
        for process in (browser, lab):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SCREENSHOT)
    parser.add_argument("--chromium", default="chromium", help="the Chromium (or Chrome) executable")
    args = parser.parse_args(argv)
    path = take_screenshot(args.out, args.chromium)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
