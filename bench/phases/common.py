"""What the synthetic-page phases share: a fake upstream serving synthetic pages and a fresh mirror on it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from bench.context import Context
from bench.policies import write_policies
from bench.procs import slug
from bench.servers import FakeIndex, Mirror
from bench.synthetic import vetted_pins


def big_names(start: int, count: int) -> list[str]:
    """``big<i>`` names (synthetic BIG_FILES-file pages) from ``start`` on."""
    return [f"big{i}" for i in range(start, start + count)]


@contextmanager
def synthetic_mirror(ctx: Context, label: str, *, reviewed: Iterable[str] = (), vetted: Iterable[str] = (),
                     list_size: int = 0, workers: int = 1,
                     fake_args: tuple[str, ...] = ()) -> Iterator[tuple[FakeIndex, Mirror] | None]:
    """A fake upstream with synthetic pages (``big<i>``: BIG_FILES files, ``small<i>``: SMALL_FILES files;
    with ``list_size`` a project list of that many names) and a fresh mirror on it, whose policies review
    ``reviewed`` and ``vetted`` and vet the newest BIG_VETTED_VERSIONS versions of each of ``vetted``.

    Yields None (after a note) when the fake upstream does not start; both are stopped on exit.
    """
    s = ctx.settings
    folder = slug(label)
    vetted = list(vetted)
    policies = ctx.tmp / folder / "policies"
    pins = {name: vetted_pins(name, s.big_files, s.big_vetted_versions) for name in vetted}
    write_policies(policies, dict.fromkeys([*reviewed, *vetted]), pins=pins)
    args = ["--big-files", str(s.big_files), "--small-files", str(s.small_files), "--list-size", str(list_size),
            *fake_args]
    fake = FakeIndex(ctx, args, label=f"fake upstream ({label})")
    if not fake.start():
        yield None
        return
    mirror = Mirror(ctx, label, workers=workers, upstream=fake.url, storage=ctx.tmp / folder / "storage",
                    policies=policies)
    try:
        mirror.start()
        yield fake, mirror
    finally:
        mirror.stop()
        fake.stop()
