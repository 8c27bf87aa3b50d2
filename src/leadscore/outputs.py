"""Output files: checked before any work starts, written atomically when it ends.

Every command that writes files goes through here, so that a bad output path is
refused up front (before minutes of scoring) and a failed run leaves nothing
half-written: each file is written beside its target under a temporary name and
moved into place only when everything succeeded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from leadscore.errors import UsageError


def check_outputs(
    outputs: Sequence[tuple[str, Path, Sequence[str]]],
    inputs: Iterable[Path | None] = (),
) -> None:
    """Refuse output paths that cannot be written or would destroy an input.

    `outputs` are (option, path, allowed suffixes); an empty suffix list allows any.
    Each must end in an allowed suffix, lie in an existing folder, not be a folder,
    not be one of `inputs`, and differ from the other outputs.
    """
    given = [p for p in inputs if p is not None]
    seen: dict[Path, str] = {}
    for option, path, suffixes in outputs:
        where = f"{option} {path}" if option else str(path)
        if suffixes and path.suffix.lower() not in suffixes:
            wanted = " or ".join(suffixes)
            got = f"{path.suffix!r}" if path.suffix else "no extension"
            raise UsageError(f"{where}: expected a file ending in {wanted}, got {got}")
        if path.is_dir():
            raise UsageError(f"{where}: is a folder; give a file name inside it")
        if path.parent.exists() and not path.parent.is_dir():
            raise UsageError(f"{where}: {path.parent} is a file, not a folder")
        if not path.parent.is_dir():
            raise UsageError(f"{where}: folder {path.parent} does not exist")
        _check_writable(where, path)
        for source in given:
            if same_file(path, source):
                raise UsageError(
                    f"{where}: is also an input ({source}); write the output to another file"
                )
        key = _key(path)
        if key in seen:
            raise UsageError(f"{where}: is also the file of {seen[key]}; give each its own file")
        seen[key] = where


# The files leadscore wrote into a folder (demo, generate): it may write them again, but
# a file of the same name that it did not write is the user's, and stays.
MARKER = ".leadscore-files"


def check_folder_output(
    option: str, folder: Path, names: Sequence[str], inputs: Iterable[Path | None] = ()
) -> None:
    """A folder to write `names` into: an existing folder, or one to create (with its
    parents), where no file of those names exists that leadscore did not write."""
    where = f"{option} {folder}"
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{where}: is a file; expected a folder to write into")
    ancestor = folder.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{where}: {ancestor} is a file, so the folder cannot be made")
    for source in inputs:
        if source is not None and same_file(folder, source):
            raise UsageError(f"{where}: is also an input ({source})")
    if folder.is_dir():
        ours = set(_written(folder))
        theirs = [n for n in names if (folder / n).exists() and n not in ours]
        if theirs:
            raise UsageError(
                f"{where}: holds {', '.join(theirs)}, which leadscore did not write; choose "
                "another folder, or remove them"
            )
        check_outputs([(option, folder / name, []) for name in names])


def _written(folder: Path) -> list[str]:
    try:
        return (folder / MARKER).read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return []


def record_folder_output(folder: Path, names: Sequence[str]) -> None:
    """Note that leadscore wrote `names` into the folder (see `check_folder_output`)."""
    known = sorted({*filter(None, _written(folder)), *names})
    (folder / MARKER).write_text("\n".join(known) + "\n", encoding="utf-8")


def _check_writable(where: str, path: Path) -> None:
    """Write and remove the temporary file the output will be written to: the only sure
    test (permissions, read-only mounts, /proc) before minutes of work."""
    probe = temporary_path(path)
    try:
        probe.touch(exist_ok=False)
    except OSError as exc:
        raise UsageError(
            f"{where}: cannot write in folder {path.parent} ({exc.strerror})"
        ) from None
    probe.unlink()


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links and `..` too)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        return False
    return _key(a) == _key(b)


def _key(path: Path) -> Path:
    return Path(os.path.realpath(path))


def temporary_path(path: Path) -> Path:
    """A name beside `path` for writing it, kept hidden until the move (same suffix)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_files(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield temporary paths to write; move them all into place only if the block succeeds.

    The files are moved in the given order: put the file that names the others
    (a model naming its predictive file) last, so that it never points at nothing.
    """
    temps = [temporary_path(p) for p in paths]
    try:
        yield temps
        for tmp, final in zip(temps, paths, strict=True):
            if tmp.exists():
                os.replace(tmp, final)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """One file written atomically (see atomic_files)."""
    with atomic_files([path]) as (tmp,):
        yield tmp


__all__ = [
    "atomic_file",
    "atomic_files",
    "check_folder_output",
    "check_outputs",
    "record_folder_output",
    "same_file",
    "temporary_path",
]
