"""The pure core imports no I/O framework, so it can be tested (and reasoned about) with plain values."""

import subprocess
import sys

PURE = ["mirror.models", "mirror.errors", "mirror.config", "mirror.simple.parse", "mirror.simple.render",
        "mirror.simple.negotiate", "mirror.policy.model", "mirror.policy.load", "mirror.policy.evaluate",
        "mirror.policy.explain", "mirror.policy.lookalike", "mirror.policy.edit", "mirror.tiers"]
FORBIDDEN = ["aiohttp", "sqlalchemy", "aiofiles", "aiosqlite"]


def test_pure_core_imports_no_io_framework():
    code = (f"import sys\nfor m in {PURE!r}: __import__(m)\n"
            f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
