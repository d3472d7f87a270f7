"""``python -m mirror`` is the ``mirror`` command."""

from .cli import main

raise SystemExit(main())
