"""tools/mutation.py's verdict (the CI gate of docs/testing.md): below the target fails, a surviving mutant of a
deciding function fails under --strict and --ci, reviewed equivalents leave the score, and every configured
module is found. The mutmut run itself is not started here (it takes minutes; .ci/run runs it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


DECIDING = ["mirror.core.policy.evaluate.x_decide_*", "mirror.core.policy.evidence.xǁAdvisoriesǁhits"]


def module(tool: ModuleType, path: str, survived: list[str], killed: int, equivalent: tuple[str, ...] = ()) -> object:
    found = tool.Module(path, {name: "survived" for name in survived})
    found.statuses.update({f"{tool.dotted(path)}.x_other__mutmut_{i}": "killed" for i in range(killed)})
    found.equivalent.update(equivalent)
    return found


def test_the_verdict(tool: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    deciding = "mirror.core.policy.evaluate.x_decide_release__mutmut_7"
    other = "mirror.core.policy.evaluate.x_helper__mutmut_1"
    path = "mirror/core/policy/evaluate.py"
    # 99 killed of 100: above 95 %, but the survivor decides: a warning, a failure when strict
    assert tool.report({path: module(tool, path, [deciding], 99)}, 95.0, DECIDING, [], False) == 0
    assert "WARNING: 1 mutants of functions that decide" in capsys.readouterr().err
    assert tool.report({path: module(tool, path, [deciding], 99)}, 95.0, DECIDING, [], False, strict=True) == 1
    assert "FAILED: 1 mutants of functions that decide" in capsys.readouterr().err
    # the same survivor reviewed as equivalent: neither counted nor failing
    reviewed = module(tool, path, [deciding], 99, equivalent=(deciding,))
    assert reviewed.score == 100.0  # type: ignore[attr-defined]
    assert tool.report({path: reviewed}, 95.0, DECIDING, [], False, strict=True) == 0
    capsys.readouterr()
    # a survivor elsewhere fails only below the target
    assert tool.report({path: module(tool, path, [other], 99)}, 95.0, DECIDING, [], False, strict=True) == 0
    capsys.readouterr()
    assert tool.report({path: module(tool, path, [other] * 1, 9)}, 95.0, DECIDING, [], False) == 1
    assert "90.0% of non-equivalent mutants killed, below the 95% target" in capsys.readouterr().err
    # a stale equivalents entry fails the run; so does a module without results
    assert tool.report({path: module(tool, path, [], 10)}, 95.0, DECIDING, ["stale"], False) == 1
    assert tool.report({path: tool.Module(path)}, 95.0, DECIDING, [], False) == 1
    assert "no mutant results" in capsys.readouterr().err


def test_deciding_functions_are_matched_by_name(tool: ModuleType) -> None:
    assert tool.is_decision("mirror.core.policy.evaluate.x_decide_page__mutmut_12", DECIDING)
    assert tool.is_decision("mirror.core.policy.evidence.xǁAdvisoriesǁhits__mutmut_3", DECIDING)
    assert not tool.is_decision("mirror.core.policy.evaluate.x__vet__mutmut_1", DECIDING)


def test_the_configuration_names_existing_modules_and_ci_is_strict(tool: ModuleType) -> None:
    mutmut, ours = tool.settings()
    paths = tool.module_paths(mutmut)
    assert "mirror/core/policy/evidence.py" in paths and "mirror/core/licenses.py" in paths
    assert all((ROOT / p).is_file() and not p.endswith("__init__.py") for p in paths)
    for pattern in ours["ci_modules"]:
        assert pattern in paths
    assert 0 < float(ours["target"]) <= 100
    source = (ROOT / "tools" / "mutation.py").read_text(encoding="utf-8")
    assert "args.strict or args.ci" in source
