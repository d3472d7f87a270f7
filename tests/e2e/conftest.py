"""Fixtures of the end-to-end tests."""

from pathlib import Path

import pytest

from ..support.policies import PolicyDir


@pytest.fixture
def policies(tmp_path: Path) -> PolicyDir:
    """The policies directory of the ``mirror``/``revalidating`` fixtures (``make_config``)."""
    return PolicyDir(tmp_path / "policies")
