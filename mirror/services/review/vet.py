"""``mirror vet``: pin the sha256 of a release's files as upstream advertises them (all of them, or exactly the
ones a lock file names), after verifying provenance against the pinned publishers and checking the uploaders.

Vetting a release already vetted with the same pins changes nothing and says so; with other pins it is
refused with the complete command that removes the vetting first. ``mirror unvet`` removes a vetting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from packaging.version import Version

from mirror.core.errors import ReviewError
from mirror.core.models import ProjectDetail
from mirror.core.policy import edit
from mirror.core.policy.commands import command
from mirror.core.policy.evaluate import canonical_version
from mirror.core.policy.model import PublisherSyntaxError, TrustedPublisher, Vetting, parse_identity
from mirror.services.review.arguments import by_and_reason, option_text, project_name, release_version
from mirror.services.review.evidence import uploader_evidence
from mirror.services.review.listing import latest, summarized
from mirror.services.review.outcome import Outcome, nothing_changed, record, require_reviewed
from mirror.services.review.vetting import (
    examine_provenance,
    judge_provenance,
    judge_uploaders,
    pinned_publishers,
    publisher_fields,
)
from mirror.services.review.wording import when

if TYPE_CHECKING:
    from mirror.services.review.service import ReviewService


def trusted_publisher(text: str | None) -> TrustedPublisher | None:
    """``--trust-publisher``'s identity, parsed; ReviewError when it is not one."""
    if text is None:
        return None
    try:
        return parse_identity(text)
    except PublisherSyntaxError as exc:
        raise ReviewError(f"--trust-publisher: {exc}") from None


def unvet_command(name: str, version: str) -> str:
    return command("mirror", "unvet", name, version, "--by", "NAME", "--reason", "TEXT")


def already_vetted(name: str, version: str, existing: Vetting, pins: Mapping[str, str]) -> bool:
    """True when ``existing`` pins exactly ``pins`` (the same files, the same sha256): nothing to change.
    ReviewError, with the command that removes the vetting, when it pins anything else."""
    if dict(existing.files) == dict(pins):
        return True
    differ = sorted(f for f in set(existing.files) | set(pins) if existing.files.get(f) != pins.get(f))
    raise ReviewError(f"{name} {version} is already vetted by {existing.signed.by} on {when(existing.signed)} "
                      f"({existing.where}) with other files or hashes ({summarized(differ)}); to vet it again, "
                      f"remove that vetting first: {unvet_command(name, version)}")


async def vet_release(svc: ReviewService, project: str, version: str, by: str, note: str | None = None, *,
                      override_uploaders: bool = False, trust_publisher: str | None = None,
                      detail: ProjectDetail | None = None, only: Mapping[str, str] | None = None) -> Outcome:
    """Vet one release (see the module docstring). ``detail``: upstream's page when the caller has it;
    ``only``: vet exactly these files (filename → sha256, each already compared with upstream's)."""
    name = project_name(project)
    version = release_version(version)
    by = option_text(by, "--by", required=True)
    note = option_text(note, "--note", required=False)
    if override_uploaders and not note:
        raise ReviewError("--override-uploaders needs --note saying why the new uploaders are trusted")
    trusted = trusted_publisher(trust_publisher)
    before = svc.files.read(name)[1]
    require_reviewed(name, before)  # fail fast, before any network
    if detail is None:
        detail = await svc.upstream.project_detail(name)
    files = [f for f in detail.files if canonical_version(f.version) == canonical_version(version)]
    if only is not None:
        files = [f for f in files if f.filename in only]
    if not files:
        available = detail.computed_versions()
        raise ReviewError(f"upstream lists no files of {name} {version}; available versions: "
                          + (latest(available) if available else "none"))
    unpinnable = [f.filename for f in files if not f.sha256]
    if unpinnable:
        raise ReviewError(f"upstream advertises no sha256 for {summarized(unpinnable)}: cannot pin {name} {version}")
    unverifiable = [f.filename for f in files if f.checked_hashes() is None]
    if unverifiable:
        raise ReviewError(f"upstream advertises malformed or conflicting hashes for {summarized(unverifiable)}: "
                          f"the mirror serves none of these bytes, so {name} {version} cannot be vetted")
    pins = {f.filename: f.sha256 for f in files if f.sha256}
    assert before is not None
    existing = before.vettings.get(canonical_version(version) or version)
    if existing is not None and already_vetted(name, version, existing, pins):
        return Outcome((f"{name} {version} is already vetted by {existing.signed.by} on {when(existing.signed)} "
                        f"with these {len(pins)} file(s) ({existing.where}): nothing changed",), None, ())
    # The .metadata upstream advertises now is pinned too: `vetted` withholds the file if it changes.
    metadata_pins = {f.filename: sha for f in files if (sha := (f.checked_metadata() or {}).get("sha256"))}
    yanked = {f.filename for f in files if f.is_yanked}
    pinned = pinned_publishers(before)
    checked = pinned + ((trusted,) if trusted is not None and trusted not in pinned else ())
    documents = await svc.upstream.provenance_documents(files)
    findings = await asyncio.to_thread(examine_provenance, files, documents, checked)
    evidence = await uploader_evidence(svc.upstream, name, files, findings.publishers)
    rules = svc.files.rules()
    async with svc.files.locked():
        text, policy = svc.files.read(name)
        require_reviewed(name, policy)
        assert policy is not None
        existing = policy.vettings.get(canonical_version(version) or version)
        if existing is not None and already_vetted(name, version, existing, pins):
            return Outcome((f"{name} {version} is already vetted by {existing.signed.by}: nothing changed",), None, ())
        if pinned_publishers(policy) != pinned:
            raise ReviewError(f"the trusted publishers pinned for {name} changed while vetting; run the "
                              "command again")
        prov_lines, verified, pin = judge_provenance(name, version, policy, findings, trusted,
                                                     svc.files.project_path(name))
        lines, recorded = judge_uploaders(name, version, policy, evidence, rules, override_uploaders)
        now = svc.now()
        new = edit.set_vetting(text, version, pins, by, now, note, verified, metadata_pins)
        if pin is not None:
            new = edit.add_publisher(new, publisher_fields(pin), by, now,
                                     note or f"trusted publisher confirmed when vetting {name} {version}")
        if recorded is not None:
            action, maintainers, publishers = recorded
            new = edit.set_uploaders(new, maintainers, publishers, by, now,
                                     note if action == "override-uploaders" else
                                     (note or f"first vetting ({name} {version}): trust on first use"))
        records = [record(now, by, "vet", f"{name}=={version}", None, edit.snippet(new, "vetted", version), note)]
        if pin is not None:
            records.append(record(now, by, "pin-publisher", name, edit.snippet(text, "provenance"),
                                  edit.snippet(new, "provenance"), note or pin.identity))
        if recorded is not None:
            records.append(record(now, by, recorded[0], name, edit.snippet(text, "uploaders"),
                                  edit.snippet(new, "uploaders"), note))
        path, ids = await svc.change(name, new, records)
    head = [f"vetted {name} {version}: {len(pins)} file(s) pinned in {path}"]
    head += _pin_lines(pins, metadata_pins, yanked)
    return svc.outcome(head + [f"provenance: {line}" for line in prov_lines]
                       + [f"uploaders: {line}" for line in [*evidence.notes, *lines]], path, ids)


#: Files listed one per line up to this many; beyond it, a count.
_LISTED_FILES = 12


def _pin_lines(pins: Mapping[str, str], metadata_pins: Mapping[str, str], yanked: set[str]) -> list[str]:
    """One line per pinned file (with its .metadata pin), or, for a release with many files, the first few
    and a count: the policy file has them all."""
    names = sorted(pins)
    shown = names if len(names) <= _LISTED_FILES else names[:_LISTED_FILES - 2]
    width = max(len(f) for f in shown)
    out = []
    for filename in shown:
        yanked_note = "  (yanked upstream)" if filename in yanked else ""
        out.append(f"  {filename:{width}s}  sha256 {pins[filename]}{yanked_note}")
        if filename in metadata_pins:
            out.append(f"  {'':{width}s}  .metadata sha256 {metadata_pins[filename]}")
    if len(shown) < len(names):
        out.append(f"  … and {len(names) - len(shown)} more file(s): see the policy file")
    return out


async def unvet_release(svc: ReviewService, project: str, version: str, by: str, reason: str, *,
                        force: bool = False) -> Outcome:
    """Remove ``[vetted."VERSION"]``: the release leaves ``vetted``. Refused (ReviewError) when a release the
    curated tiers serve needs it and no other release they serve fits that requirement, unless ``force``."""
    from mirror.services.review.guard import Guarded, refuse_opening_holes

    name = project_name(project)
    version = release_version(version)
    by, reason = by_and_reason(by, reason)
    guarded = Guarded()
    async with svc.files.locked():
        text, policy = svc.files.read(name)
        if policy is None or canonical_version(version) not in policy.vettings:
            vetted = sorted(policy.vettings, key=Version) if policy else []
            return nothing_changed(f"{name} {version} is not vetted; vetted releases of {name}: "
                                   + (summarized(vetted) if vetted else "none"))
        version = edit.vetted_key(text, version) or version  # as the file (and the vet record) spell it
        new = edit.remove_vetting(text, version)
        if policy.review is not None:  # an unreviewed project's vettings serve nothing
            guarded = await refuse_opening_holes(
                svc, name, new, f"unvet {name} {version}",
                command("mirror", "unvet", name, version, "--by", by, "--reason", reason, "--force"),
                instead=f"Vet another release of {name} that fits them first ("
                        f"{command('mirror', 'vet', name, 'VERSION', '--by', 'NAME', '--note', 'TEXT')})",
                force=force)
        now = svc.now()
        path, ids = await svc.change(name, new, [record(now, by, "unvet", f"{name}=={version}",
                                                        edit.snippet(text, "vetted", version), None,
                                                        guarded.audit_note(reason))])
    return svc.outcome((f"unvetted {name} {version}: it is no longer in 'vetted' ({path})",
                        *([guarded.note] if guarded.note else [])), path, ids)
