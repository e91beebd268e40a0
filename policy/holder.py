"""PolicyHolder: the policy a running API serves, replaced only by a policy that compiles and passes its tests.

Policy authors edit `.polar` files while replicas serve requests. A reload builds a complete new
`Policy` beside the old one, runs the policy tests against it, and only then swaps one reference,
so a request never sees a half-loaded policy and a broken edit never takes a working policy
down. Each request should read `holder.current` once and use that object throughout, so all of its
decisions come from one policy.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

from skyloom.policy.adapter import Policy
from skyloom.policy.check import CheckReport, check


class PolicyRejected(Exception):
    """No policy could be accepted; `report` says why (compile error, failing or missing tests)."""

    def __init__(self, report: CheckReport) -> None:
        super().__init__(report.render())
        self.report = report


class PolicyHolder:
    """Holds the serving policy. Made once in the app's lifespan and passed in (no singleton)."""

    def __init__(self, paths: Iterable[str | Path] | None = None) -> None:
        """Load and test the policy at `paths` (files or directories; default: the built-in
        policy). Raises PolicyRejected: without a working policy there is nothing to serve."""
        self._lock = threading.Lock()       # one reload at a time; readers never wait
        self._paths = tuple(paths) if paths is not None else None
        report = check(self._paths)
        if not report.ok or report.policy is None:
            raise PolicyRejected(report)
        self._policy: Policy = report.policy
        self._report = report

    @property
    def current(self) -> Policy:
        return self._policy

    @property
    def report(self) -> CheckReport:
        """The check report of the policy being served."""
        return self._report

    def reload(self, paths: Iterable[str | Path] | None = None) -> CheckReport:
        """Check the policy at `paths` (default: where the serving policy came from) and serve it
        if, and only if, the check is ok. Returns the report either way; a refused policy
        leaves the current one in place. Use `reload_or_raise` to get an exception instead."""
        with self._lock:
            candidate = tuple(paths) if paths is not None else self._paths
            report = check(candidate)
            if report.ok and report.policy is not None:
                self._policy, self._report, self._paths = report.policy, report, candidate
            return report

    def reload_or_raise(self, paths: Iterable[str | Path] | None = None) -> CheckReport:
        report = self.reload(paths)
        if not report.ok:
            raise PolicyRejected(report)
        return report
