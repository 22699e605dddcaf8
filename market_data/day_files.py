"""Files named by their day (``YYYY-MM-DD.*``), local or in S3, removed by date.

The landing area (day files, manifests, scanned lines, source choices) and the bar store
(Parquet, quarantine) name every file by its day, so retention removes both the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.fs as pafs

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.")


@dataclass
class FilesRemoved:
    files_removed: int = 0
    bytes_freed: int = 0


def prune_day_files(
    root: Path | str, cutoff: date, filesystem: pafs.FileSystem | None = None
) -> FilesRemoved:
    """Remove files named ``YYYY-MM-DD.*`` (day files, manifests, Parquet) before ``cutoff``.

    ``filesystem`` is local by default; the bar store passes its S3 one, ``root`` then being
    ``bucket/prefix``.
    """
    filesystem = filesystem or pafs.LocalFileSystem()
    if isinstance(filesystem, pafs.LocalFileSystem):
        root = Path(root).absolute().as_posix()
    selector = pafs.FileSelector(str(root), recursive=True, allow_not_found=True)
    result = FilesRemoved()
    for info in filesystem.get_file_info(selector):
        match = _DAY_FILE.match(info.base_name)
        if (
            info.type == pafs.FileType.File
            and match
            and date.fromisoformat(match.group(1)) < cutoff
        ):
            filesystem.delete_file(info.path)
            result.bytes_freed += info.size or 0
            result.files_removed += 1
    return result
