"""The reviewer commands (``mirror promote``, ``vet``, ``demote``, ``unvet``, ``block``, ``unblock``,
``explain``, ``check``, ``audit``, ``demand``): everything but argument parsing and printing.

Every change edits one ``<policies>/projects/<name>.toml`` (created when missing) with
:mod:`mirror.core.policy.edit`, which keeps comments and layout. The read-modify-write happens under an
exclusive ``flock`` on ``<policies>/.lock``, so concurrent invocations never lose an edit; the new text
is validated with :func:`~mirror.core.policy.load.parse_project` before it replaces the file atomically
(temporary file + ``os.replace``), and every change is appended to the audit log. Refusals raise
:class:`~mirror.core.errors.ReviewError` with a message meant for the reviewer.

``vet`` pins the sha256 of every file of a release exactly as the configured upstream advertises it,
and checks the project's uploaders (trust on first use): maintainers from the upstream JSON API's
``ownership.roles``, trusted publishers from the PEP 740 provenance of the release's files (only identities
whose signatures verified, never the documents' unsigned claims). Where a file
has provenance, ``vet`` verifies it offline (:mod:`mirror.adapters.provenance`) against the publishers pinned in
``[provenance]`` and records the verified publisher per file; without a pin it proposes the publisher
that signed (trust on first use) and pins it only when the reviewer confirms with ``--trust-publisher``.

The modules, along those seams:

- :mod:`.service`: :class:`ReviewService`, each command from its arguments to the audit record;
- :mod:`.outcome`: what a command did (:class:`Outcome`) and the audit record it writes;
- :mod:`.promotion`, :mod:`.blocks`: the bodies of ``promote``/``demote``/``floor`` and ``block``/``unblock``/``waive``;
- :mod:`.arguments`: names, versions, targets and option text as the reviewer types them;
- :mod:`.files`: the locked, validated, atomic edits of the policy files;
- :mod:`.audit`: the audit trail (and demand log) in the database;
- :mod:`.typosquat`: the look-alike gate of ``promote``;
- :mod:`.upstream_reader`: project pages, JSON documents and provenance from the configured upstream;
- :mod:`.evidence`: upstream's maintainers and trusted publishers of a project;
- :mod:`.vetting`: ``vet``'s provenance and uploader decisions, and re-verification of vetted provenance;
- :mod:`.inspection`: ``explain`` and ``check``;
- :mod:`.wording`: how signatures and uploader lists are quoted back.
"""

from mirror.services.review.arguments import parse_target, project_name, release_version
from mirror.services.review.evidence import Evidence, json_api_url
from mirror.services.review.files import LOCK_FILE, LOCK_TIMEOUT
from mirror.services.review.inspection import ExplainResult, Problem
from mirror.services.review.service import Outcome, ReviewService
from mirror.services.review.vetting import (
    ProvenanceFindings,
    examine_provenance,
    publisher_fields,
)
from mirror.services.review.wording import when

__all__ = [
    "LOCK_FILE",
    "LOCK_TIMEOUT",
    "Evidence",
    "ExplainResult",
    "Outcome",
    "Problem",
    "ProvenanceFindings",
    "ReviewService",
    "examine_provenance",
    "json_api_url",
    "parse_target",
    "project_name",
    "publisher_fields",
    "release_version",
    "when",
]
