"""Policy loading: the documented format parses; every kind of mistake names file, line and key."""

from pathlib import Path

import pytest

from mirror.adapters.policy_dir import load_policies
from mirror.core.errors import PolicyError
from mirror.core.policy.load import parse_project, parse_tiers

SHA = "a" * 64
GOOD = f'''# demo: a comment that must survive edits
[review]
by = "alice"
at = 2026-11-20T09:30:00Z
note = "fine"
versions = ">=1.0"
exclude = ["1.5"]
cooldown_days = 3
allow_prereleases = true

[[block]]
versions = "==1.2"
reason = "malicious"
by = "bob"

[uploaders]
maintainers = ["alice"]
publishers = []
by = "alice"

[vetted."2.0"]
by = "alice"
note = "diffed"

[vetted."2.0".files]
"demo-2.0-py3-none-any.whl" = "{SHA}"
'''

REPO = Path(__file__).resolve().parents[2]


def test_documented_example_parses():
    p = parse_project(GOOD, "demo.toml", "demo")
    assert p.review.signed.by == "alice" and p.review.exclude == {"1.5"} and p.review.cooldown_days == 3
    assert str(p.review.versions) == ">=1.0" and p.review.where.line == 2
    assert p.blocks[0].reason == "malicious" and p.blocks[0].where.line == 11
    assert p.vettings["2"].files == {"demo-2.0-py3-none-any.whl": SHA} and p.vettings["2"].where.line == 21
    assert p.uploaders.maintainers == ("alice",)


def test_shipped_example_policies_are_valid():
    policies = load_policies(REPO / "examples" / "policies")
    assert policies.projects, "the repository ships an example policy set"


@pytest.mark.parametrize(
    ("edit", "line", "key", "fragment"),
    [
        (('versions = ">=1.0"', 'versions = ">=one"'), 6, "review.versions", "bad version specifier"),
        (('cooldown_days = 3', 'cooldown_days = "3"'), 8, "review.cooldown_days", "wrong type"),
        (('cooldown_days = 3', 'cooldown_days = -1'), 8, "review.cooldown_days", "0 or more"),
        (('note = "fine"', 'nite = "fine"'), 5, "review.nite", "unknown key"),
        (('reason = "malicious"', 'reason = 5'), 13, "block.reason", "wrong type"),
        (('exclude = ["1.5"]', 'exclude = ["not a version!"]'), 7, "review.exclude", "bad version"),
        ((f'= "{SHA}"', '= "xyz"'), 26, 'vetted."2.0".files."demo-2.0-py3-none-any.whl"', "sha256"),
        (('[uploaders]', '[uploader]'), 16, "uploader", "unknown key"),
        (('maintainers = ["alice"]', 'maintainers = "alice"'), 17, "uploaders.maintainers", "wrong type"),
        (('allow_prereleases = true', 'allow_prereleases = "yes"'), 9, "review.allow_prereleases", "wrong type"),
        (('by = "bob"', 'by = "bob"\nby = "eve"'), 15, None, "invalid TOML"),
    ],
)
def test_errors_name_file_line_and_key(edit, line, key, fragment):
    text = GOOD.replace(*edit, 1)
    assert text != GOOD
    with pytest.raises(PolicyError) as info:
        parse_project(text, "policies/projects/demo.toml", "demo")
    err = info.value
    assert err.file == "policies/projects/demo.toml" and err.line == line and fragment in str(err)
    if key:
        assert err.key == key


def test_duplicate_vetting_after_normalization():
    text = GOOD + f'\n[vetted."2.0.0"]\nby = "x"\n[vetted."2.0.0".files]\n"a.whl" = "{SHA}"\n'
    with pytest.raises(PolicyError, match="duplicate entry") as info:
        parse_project(text, "f.toml", "demo")
    assert info.value.line == 28 and info.value.key == 'vetted."2.0.0"'


def test_tiers_file():
    rules = parse_tiers("# c\n[reviewed]\ncooldown_days = 0\nallow_prereleases = true\n", "tiers.toml")
    assert rules.cooldown_days == 0 and rules.allow_prereleases
    assert (rules.cooldown_where.line, rules.prereleases_where.line) == (3, 4)
    assert rules.uploaders_where.file == "built-in default"
    with pytest.raises(PolicyError) as info:
        parse_tiers("[reviewed]\ncooldown = 3\n", "tiers.toml")
    assert info.value.line == 2 and info.value.key == "reviewed.cooldown"
    with pytest.raises(PolicyError, match="unknown key") as info:
        parse_tiers("[trusted]\n", "tiers.toml")
    assert info.value.line == 1


def test_directory_loading_and_file_names(tmp_path):
    (tmp_path / "projects").mkdir()
    (tmp_path / "projects" / "demo.toml").write_text(GOOD)
    policies = load_policies(tmp_path)
    assert set(policies.projects) == {"demo"} and policies.version != "empty"
    (tmp_path / "projects" / "Not_Normal.toml").write_text("")
    with pytest.raises(PolicyError, match="not-normal.toml"):
        load_policies(tmp_path)


def test_version_changes_with_content(tmp_path):
    (tmp_path / "projects").mkdir()
    (tmp_path / "projects" / "demo.toml").write_text(GOOD)
    v1 = load_policies(tmp_path).version
    (tmp_path / "projects" / "demo.toml").write_text(GOOD.replace("fine", "great"))
    assert load_policies(tmp_path).version != v1
    assert load_policies(tmp_path / "absent", allow_missing=True).projects == {}
