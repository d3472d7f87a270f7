"""``python -m mirror`` is the ``mirror`` command."""

from mirror.cli.main import main

raise SystemExit(main())
