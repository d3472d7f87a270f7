#!/usr/bin/env python3
"""Refresh the Sigstore trust root the mirror pins (mirror/data/sigstore/), for review in git.

    python tools/refresh_trust_root.py                 # from the installed sigstore package
    python tools/refresh_trust_root.py --from tuf      # from Sigstore's TUF repository (online)
    python tools/refresh_trust_root.py --check         # exit 1 when the source differs from the pinned copy

``--from package`` copies the production trusted_root.json embedded in the installed sigstore package (so
upgrading sigstore, then running this, brings its rotated keys). ``--from tuf`` runs sigstore's TUF client
against its production repository, starting from the root of trust embedded in the sigstore package, with
a throw-away cache directory: the result is verified by TUF, and nothing is left under $HOME. Either way
the file is parsed before it is written, and ``trusted_root.toml`` records its sha256, a version number
(bumped on every change), the source and the date. Commit both files; the diff is the review.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from mirror.adapters import trust_root


def from_package() -> tuple[bytes, str]:
    import sigstore
    from sigstore._internal.tuf import DEFAULT_TUF_URL
    from sigstore._utils import read_embedded

    return read_embedded("trusted_root.json", DEFAULT_TUF_URL), \
        f"sigstore {sigstore.__version__} package, embedded production trusted root"


def from_tuf() -> tuple[bytes, str]:
    import sigstore

    with tempfile.TemporaryDirectory(prefix="trust-root-") as scratch:
        # sigstore's TUF client keeps its metadata and targets under the XDG dirs: a scratch copy here.
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        os.environ["XDG_DATA_HOME"] = str(Path(scratch) / "data")
        from sigstore._internal.tuf import DEFAULT_TUF_URL, TrustUpdater

        updater = TrustUpdater(DEFAULT_TUF_URL, offline=False)
        body = Path(updater.get_trusted_root_path()).read_bytes()
    return body, f"Sigstore production TUF repository via sigstore {sigstore.__version__}, TUF-verified"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", choices=("package", "tuf"), default="package",
                        help="where to take the trust root from (default: the installed sigstore package)")
    parser.add_argument("--directory", type=Path, default=trust_root.SHIPPED_DIR,
                        help="the pinned trust root's directory (default: the mirror package's)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when they differ")
    args = parser.parse_args(argv)
    body, source = from_tuf() if args.source == "tuf" else from_package()
    try:
        current = trust_root.info(args.directory)
    except trust_root.TrustRootError as exc:
        current = None
        print(f"pinned trust root unusable: {exc}", file=sys.stderr)
    digest = hashlib.sha256(body).hexdigest()
    if args.check:
        if current is not None and current.sha256 == digest:
            print(f"up to date: {current.describe()}")
            return 0
        print(f"differs: {source} has sha256 {digest}; pinned: {current.describe() if current else 'unusable'}")
        return 1
    try:
        new = trust_root.write(args.directory, body, source)
    except trust_root.TrustRootError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    changed = current is None or current.sha256 != new.sha256
    print(("updated: " if changed else "unchanged: ") + new.describe())
    if changed:
        print(f"review and commit {args.directory / trust_root.ROOT_FILE} and {trust_root.MANIFEST_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
