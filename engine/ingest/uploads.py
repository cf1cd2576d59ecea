"""Uploaded files on disk: where they live, which dataset they belong to, when they go.

The Import page saves an upload under ``<imports>/uploads/`` so it can be previewed,
mapped and imported (possibly several times, into the same dataset). Such a file is
the user's data and must not outlive its purpose:

- an import that **fails** (the file cannot be read) or **keeps nothing** (no row
  accepted, so no dataset) removes the upload (``discard_upload``);
- a successful import records the file in its dataset (the dataset's own store,
  kv ``import.uploads``), and **removing the dataset** removes those files with it
  (``remove_dataset``); renaming a dataset keeps the record (it lives in the file);
- uploads nobody imported (a closed browser tab) are swept after a day
  (``prune_orphans``, called by the page with the wall-clock time).

Only plain file names inside the uploads folder are ever recorded or deleted: a
name with a path in it, or a sample file elsewhere, is never touched.
"""

from __future__ import annotations

from pathlib import Path

from engine.ingest.mapping import delete_dataset
from engine.store.db import Store

UPLOADS_KV = "import.uploads"
ORPHAN_AGE_S = 24 * 3600


def uploads_dir_for(imports_dir: str | Path) -> Path:
    return Path(imports_dir) / "uploads"


def _inside(path: str | Path, imports_dir: str | Path) -> Path | None:
    """``path`` as a file directly in the uploads folder, or None."""
    folder = uploads_dir_for(imports_dir).resolve()
    p = Path(path).resolve()
    return p if p.parent == folder else None


def is_upload(path: str | Path, imports_dir: str | Path) -> bool:
    return _inside(path, imports_dir) is not None


def attach_upload(db_path: str | Path, upload: str | Path, imports_dir, now_ms: int) -> bool:
    """Record that the dataset at ``db_path`` was imported from ``upload`` (if it is
    an upload). True when recorded."""
    p = _inside(upload, imports_dir)
    if p is None:
        return False
    with Store(db_path) as store:
        names = set(store.get_kv(UPLOADS_KV, []) or [])
        store.set_kv(UPLOADS_KV, sorted(names | {p.name}), now_ms)
    return True


def dataset_uploads(db_path: str | Path, imports_dir: str | Path) -> list[Path]:
    """The upload files recorded for a dataset (existing or not)."""
    if not Path(db_path).exists():
        return []
    with Store(db_path) as store:
        names = store.get_kv(UPLOADS_KV, []) or []
    folder = uploads_dir_for(imports_dir)
    return [folder / n for n in names if isinstance(n, str) and n == Path(n).name]


def discard_upload(path: str | Path, imports_dir: str | Path) -> bool:
    """Delete an upload that no dataset keeps (after a failed or empty import).
    Files outside the uploads folder (samples) are never deleted."""
    p = _inside(path, imports_dir)
    if p is None or p.name in _attached_names(imports_dir):
        return False
    p.unlink(missing_ok=True)
    return True


def remove_dataset(db_path: str | Path, imports_dir: str | Path) -> list[Path]:
    """Delete a dataset and the uploads it was imported from (unless another dataset
    was imported from the same file); the upload files removed."""
    mine = dataset_uploads(db_path, imports_dir)
    delete_dataset(db_path)
    others = _attached_names(imports_dir)
    removed = []
    for p in mine:
        if p.name not in others and p.exists():
            p.unlink()
            removed.append(p)
    return removed


def _attached_names(imports_dir: str | Path) -> set[str]:
    names: set[str] = set()
    for db in Path(imports_dir).glob("*.db"):
        names |= {p.name for p in dataset_uploads(db, imports_dir)}
    return names


def prune_orphans(
    imports_dir: str | Path, now_s: float, keep: tuple = (), max_age_s: float = ORPHAN_AGE_S
) -> list[Path]:
    """Delete uploads no dataset records that are older than ``max_age_s`` (by file
    time, against the wall-clock ``now_s`` the caller passes), except ``keep``."""
    folder = uploads_dir_for(imports_dir)
    if not folder.is_dir():
        return []
    attached = _attached_names(imports_dir)
    kept = {Path(k).name for k in keep if k}
    removed = []
    for p in folder.iterdir():
        if not p.is_file() or p.name in attached or p.name in kept:
            continue
        if now_s - p.stat().st_mtime > max_age_s:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed
