"""Self-managed (DIY) backends: a directory whose `.pulumi/stacks/` holds one checkpoint per stack.

A scan reconciles every checkpoint whose content changed since the last scan; the content hash
is the checkpoint, saved in the same transaction as the stack's changes. Run it once, or on an
interval to follow a backend directory as `pulumi up` writes to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skyloom.graph.pool import Database
from skyloom.graph.reads import GraphReader
from skyloom.ingest import history, reconcile, state


@dataclass
class ScanResult:
    applied: list[str] = field(default_factory=list)
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)


def checkpoints(root: Path) -> list[Path]:
    stacks = root / ".pulumi" / "stacks" if (root / ".pulumi").is_dir() else root
    found = [p for p in stacks.rglob("*") if p.is_file() and p.name.endswith((".json", ".json.gz"))]
    # Pulumi keeps `<stack>.json.bak` beside the live file: the suffix test leaves those out.
    return sorted(found)


async def scan(
    db: Database,
    root: Path,
    *,
    owner: str | None,
    organization: str = "organization",
    default_tenancy: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> ScanResult:
    result = ScanResult()
    reader = GraphReader(db)
    for path in checkpoints(root):
        source = f"diy:{path.resolve()}"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if (await reader.checkpoint(source) or {}).get("sha256") == digest:
            result.unchanged += 1
            continue
        try:
            stack_state = state.load(path)
            applied = await reconcile.apply_state(
                db,
                stack_state,
                owner=owner,
                actor=f"ingest:diy:{path.name}",
                organization=stack_state.organization or organization,
                default_tenancy=default_tenancy,
                checkpoint=(source, {"sha256": digest}),
                cause={"source": "diy-backend", "file": path.name},
            )
        except (state.StateError, reconcile.ReconcileError) as exc:
            result.refused.append(f"{path.name}: {exc}")
            progress(f"{path.name}: refused ({exc})")
            continue
        result.applied.append(applied.stack)
        progress(applied.summary())
    for (project, stack), files in histories(root).items():
        records = []
        for path in files:
            try:
                records.append(history.load_history_file(path))
            except state.StateError as exc:
                result.refused.append(f"{path.name}: {exc}")
        name = f"{organization}/{project}/{stack}"
        added = await history.record_updates(db, name, owner, sorted(records, key=lambda r: (r.version, r.startTime or 0)))
        if added:
            progress(f"{name}: {added} update(s) recorded")
    return result


def histories(root: Path) -> dict[tuple[str, str], list[Path]]:
    """`.pulumi/history/<project>/<stack>/<stack>-<nanos>.history.json`, per stack."""
    found: dict[tuple[str, str], list[Path]] = {}
    base = root / ".pulumi" / "history"
    if base.is_dir():
        for path in sorted(base.glob("*/*/*.history.json")):
            found.setdefault((path.parent.parent.name, path.parent.name), []).append(path)
    return found
