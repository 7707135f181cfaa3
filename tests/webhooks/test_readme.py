"""The README's webhook verification snippets (Python and Node), run as a user would
run them, against a real delivery the farm sent."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT
from tests.webhooks.test_deliveries import render
from webhooks.services import webhook_secret_rotate

pytestmark = pytest.mark.usefixtures("farm", "settled")

PYTHON_HARNESS = """
import base64, json, sys

case = json.load(open(sys.argv[1]))
body = base64.b64decode(case["body"])
results = {"id": verify_kiln_webhook(case["secret"], case["headers"], body)["data"]["id"]}
for name, secret, data in (
    ("tampered", case["secret"], body + b" "),
    ("wrong_secret", case["wrong_secret"], body),
):
    try:
        verify_kiln_webhook(secret, case["headers"], data)
        results[name] = "accepted"
    except ValueError:
        results[name] = "refused"
print(json.dumps(results))
"""

NODE_HARNESS = """
const fs = require("node:fs");
const c = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const body = Buffer.from(c.body, "base64");
const results = { id: verifyKilnWebhook(c.secret, c.headers, body).data.id };
for (const [name, secret, data] of [
  ["tampered", c.secret, Buffer.concat([body, Buffer.from(" ")])],
  ["wrong_secret", c.wrong_secret, body],
]) {
  try {
    verifyKilnWebhook(secret, c.headers, data);
    results[name] = "accepted";
  } catch (e) {
    results[name] = "refused";
  }
}
console.log(JSON.stringify(results));
"""


def readme_snippet(language: str) -> str:
    readme = (ROOT / "README.md").read_text()
    fence = {"python": "python", "node": "js"}[language]
    found = re.search(
        rf"<!-- README snippet: {language} .*?-->\n```{fence}\n(.*?)\n```", readme, re.DOTALL
    )
    assert found, f"no {language} snippet in the README"
    return found.group(1)


@pytest.fixture
def real_delivery(api, account, receiver_for, tmp_path):
    """A delivery as the farm sent it, signed with two secrets (a rotation is under way),
    written where a snippet can read it."""
    old = account.webhook_secret
    webhook_secret_rotate(account=account, grace_seconds=600)
    receiver = receiver_for(account, secrets=[account.webhook_secret])
    job = render(api, receiver)
    (got,) = receiver.wait_delivered()
    assert got.verified

    def case(secret: str) -> Path:
        path = tmp_path / f"case-{secret[-8:].replace('/', '_')}.json"
        path.write_text(
            json.dumps(
                {
                    "secret": secret,
                    "wrong_secret": "whsec_" + base64.b64encode(b"x" * 32).decode(),
                    "headers": got.headers,
                    "body": base64.b64encode(got.body).decode(),
                }
            )
        )
        return path

    return job["id"], case(account.webhook_secret), case(old)


def run(language: str, harness: str, case: Path, tmp_path: Path) -> dict:
    script = tmp_path / ("verify.py" if language == "python" else "verify.js")
    script.write_text(readme_snippet(language) + "\n" + harness)
    command = [sys.executable if language == "python" else "node", str(script), str(case)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("language", "harness"), [("python", PYTHON_HARNESS), ("node", NODE_HARNESS)]
)
def test_the_readme_snippet_verifies_a_real_delivery(real_delivery, tmp_path, language, harness):
    job_id, new_secret_case, old_secret_case = real_delivery

    for case in (new_secret_case, old_secret_case):  # both secrets, during the rotation
        assert run(language, harness, case, tmp_path) == {
            "id": job_id,
            "tampered": "refused",
            "wrong_secret": "refused",
        }
