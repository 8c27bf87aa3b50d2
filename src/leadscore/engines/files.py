"""Local input files: their type, their encoding, and what is wrong with them.

Engines read files with their own readers; this module checks what those readers
report badly or not at all (a file that is not UTF-8, an empty file, a CSV whose
rows do not have the header's fields, a JSON line that does not parse) and says
so with the file, the row and what to do. Rows are data rows counted from 1, as
everywhere in leadscore: the first row after a CSV header is row 1, and the first
line of a JSON-lines file is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from leadscore.errors import DataError, UsageError, given, shown

# Python's csv refuses fields over 128 KiB; the files it diagnoses may have any.
csv.field_size_limit(2**31 - 1)

READABLE = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
UTF8 = "utf-8"
_CHUNK = 16 << 20
_DELIMITERS = ",;\t|"


def input_format(path: Path) -> str:
    kind = READABLE.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            str(path), f"unknown file type {path.suffix!r}; expected .csv, .parquet or .jsonl"
        )
    return kind


def check_local_file(path: Path) -> str:
    """The file's format, or a DataError that says what is wrong with the path."""
    if not path.exists():
        raise DataError(str(path), "file not found")
    if path.is_dir():
        raise DataError(str(path), "is a folder; expected a .csv, .parquet or .jsonl file")
    kind = input_format(path)
    if kind != "parquet" and not _has_text(path):
        raise DataError(str(path), "the file is empty")
    return kind


def check_encoding(name: str) -> str:
    """The --encoding value as Python names it; UsageError for one Python does not know."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    # Python also registers codecs of bytes to bytes (base64, zlib) and of text to text
    # (rot13): not encodings of a text file.
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise UsageError(
            f"{given('encoding')} {shown(name, 40)} is not a text encoding; try utf-8, latin-1, "
            "cp1252 or utf-16"
        )
    return info.name


class TextFiles:
    """Text inputs made readable as UTF-8: checked in place, or converted to a temporary
    copy when the user names another encoding. The copies go with `close`."""

    def __init__(self, encoding: str = UTF8) -> None:
        self.encoding = check_encoding(encoding)
        self._folder: Path | None = None

    def utf8(self, path: Path, kind: str) -> Path:
        """A UTF-8 file with the content of `path` (itself when it already is)."""
        _check_not_binary(path, kind)
        if self.encoding == UTF8:
            _check_utf8(path, kind)
            with path.open("rb") as fh:
                bom = fh.read(3) == codecs.BOM_UTF8
            if not (bom and kind == "jsonl"):
                return path
            # DuckDB's JSON reader refuses a byte-order mark (its CSV reader skips it).
            encoding = "utf-8-sig"
        else:
            encoding = self.encoding
        copy = self._copy_path(path)
        _convert(path, kind, encoding, copy)
        return copy

    def _copy_path(self, path: Path) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="leadscore-text-"))
        return self._folder / f"{len(list(self._folder.iterdir()))}{path.suffix}"

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


# The first bytes of files that people save under a text name by mistake.
_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (an Excel workbook?): save it as CSV UTF-8 from the sheet",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) or Office file: save it as CSV UTF-8",
    b"PAR1": "a Parquet file: name it .parquet",
    b"\x1f\x8b": "gzip-compressed: unzip it first (gunzip)",
    b"%PDF": "a PDF document, not a table",
}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _check_not_binary(path: Path, kind: str) -> None:
    """A file that is no text at all, or UTF-16 read as UTF-8, said as such."""
    with path.open("rb") as fh:
        head = fh.read(4)
    for signature, what in _SIGNATURES.items():
        if head.startswith(signature):
            raise DataError(str(path), f"is not a {kind.upper()} text file but {what}")


def _has_text(path: Path) -> bool:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 16):
            if chunk.strip():
                return True
    return False


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _check_utf8(path: Path, kind: str) -> None:
    """Streams the file through a strict decoder; names the row of the first bad byte."""
    decoder = codecs.getincrementaldecoder(UTF8)("strict")
    offset = 0  # of the first byte the decoder holds: its buffer, then the chunk
    for chunk in _chunks(path):
        held = decoder.getstate()[0] + chunk
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            _not_utf8(path, kind, offset + exc.start, held[exc.start : exc.start + 1])
        offset += len(held) - len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        _not_utf8(path, kind, offset, b"")


def _not_utf8(path: Path, kind: str, offset: int, byte: bytes) -> None:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(_UTF16_BOMS) and not head.startswith(codecs.BOM_UTF32_LE):
        raise DataError(
            str(path),
            "is UTF-16 text (it starts with a UTF-16 byte-order mark); add "
            f"{given('encoding')} utf-16",
        )
    row = _row_at(path, kind, offset)
    what = f"byte 0x{byte.hex().upper()}" if byte else "a cut-off character at the end"
    where = " in the header" if row == 0 else ""
    raise DataError(
        str(path),
        f"is not UTF-8 text ({what}{where}); if it is Latin-1 or Windows text, add "
        f"{given('encoding')} latin-1 (or cp1252), or convert it: iconv -f latin1 -t utf-8 "
        f"{path.name} > utf8-{path.name}",
        row=row or None,
    )


def _row_at(path: Path, kind: str, offset: int) -> int | None:
    """The data row holding byte `offset` (counting records, so quoted newlines count
    right); 0 for a CSV header."""
    with path.open("rb") as fh:
        prefix = fh.read(offset).decode(UTF8, errors="replace")
    if kind == "jsonl":
        return prefix.count("\n") + 1
    records = sum(1 for _ in csv.reader(io.StringIO(prefix + "x"), _dialect(prefix)))
    return records - 1 if records else None


def _dialect(sample: str) -> type[csv.Dialect]:
    header = sample.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=header.count)

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter if header.count(delimiter) else ","
    return Dialect


def _convert(path: Path, kind: str, encoding: str, copy: Path) -> None:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with copy.open("w", encoding=UTF8, newline="") as out:
        for chunk in _chunks(path):
            try:
                out.write(decoder.decode(chunk))
            except UnicodeDecodeError as exc:
                byte = chunk[exc.start : exc.start + 1].hex().upper()
                raise DataError(
                    str(path),
                    f"is not {encoding} text either (byte 0x{byte} at byte {offset + exc.start:,}"
                    f"); check {given('encoding')}",
                ) from None
            except UnicodeError as exc:  # e.g. UTF-16 without its byte-order mark
                raise DataError(
                    str(path), f"is not {encoding} text ({exc}); check {given('encoding')}"
                ) from None
            offset += len(chunk)
        try:
            out.write(decoder.decode(b"", final=True))
        except UnicodeError:
            raise DataError(
                str(path),
                f"is not {encoding} text (it ends inside a character); check {given('encoding')}",
            ) from None


def diagnose(path: Path, kind: str, reader_message: str, name: str | None = None) -> DataError:
    """The precise problem of a text file that the engine's reader refused.

    `path` is the file read (a UTF-8 copy, with --encoding); `name` the user's file.
    """
    name = name or str(path)
    found = first_bad_record(path, kind, name)
    if found is not None:
        return found
    return DataError(name, f"cannot read as {kind}: {shown(reader_message, 200)[1:-1]}")


def first_bad_record(path: Path, kind: str, name: str | None = None) -> DataError | None:
    """A CSV row with other fields than the header, or a JSON line that does not parse."""
    name = name or str(path)
    # utf-8-sig: a byte-order mark is no part of the first field or line.
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        if kind == "jsonl":
            for row, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    # Without its line end: an error at the end is then on this line.
                    value = json.loads(line.rstrip("\r\n"))
                except json.JSONDecodeError as exc:
                    return DataError(
                        name, f"not valid JSON: {exc.msg} at column {exc.colno}", row=row
                    )
                if not isinstance(value, dict):
                    return DataError(name, "expected one JSON object per line", row=row)
            return None
        sample = fh.read(1 << 16)
        fh.seek(0)
        reader = csv.reader(fh, _dialect(sample))
        header = next(reader, None)
        if not header:
            return DataError(name, "the file is empty")
        for row, fields in enumerate(reader, start=1):
            if fields and len(fields) != len(header):
                # A quote that never closes takes the following lines into its field.
                unclosed = "; a quote opened in this row may not be closed" * any(
                    "\n" in f for f in fields
                )
                return DataError(
                    name,
                    f"has {len(fields)} fields where the header has {len(header)} "
                    f"({', '.join(shown(h, 30) for h in header[:6])}"
                    f"{', ...' if len(header) > 6 else ''}){unclosed}",
                    row=row,
                )
    return None


def reader_agrees(path: Path, kind: str, columns: list[str], name: str | None = None) -> bool:
    """Whether the columns a reader found are the file's own: a CSV header, or the keys
    of the first JSON line. A reader that sniffs the layout can be led astray by rows
    of another shape (it then takes the second row as the header, or one column)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        sample = fh.read(1 << 20)
        whole = not fh.read(1)
    if kind == "jsonl":
        first = next((line for line in sample.splitlines() if line.strip()), "")
        try:
            keys = json.loads(first)
        except json.JSONDecodeError:
            return False
        return isinstance(keys, dict) and set(keys) <= set(columns)
    rows = list(csv.reader(io.StringIO(sample), _dialect(sample)))
    if not rows or looks_unsplit(columns):
        return False
    header = rows[0]
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated and len(header) == len(columns):
        # A reader would rename the second one (title_1) and rules would read the first.
        raise DataError(
            name or str(path),
            f"the header names {', '.join(map(shown, repeated))} more than once; "
            "give each column its own name",
        )
    # Readers rename empty and repeated names (column0, a_1): compare the others.
    same_header = len(header) == len(columns) and all(
        h == c for h, c in zip(header, columns, strict=True) if h and header.count(h) == 1
    )
    # A sniffing reader that chose no quote character reads an unclosed quote as text;
    # the rows of the sample (the last one may be cut) tell. Python parses them as the
    # standard says, so a row of another width is a broken row either way.
    complete = rows[1:] if whole else rows[1:-1]
    return same_header and all(len(r) == len(header) for r in complete if r)


def looks_unsplit(columns: list[str]) -> bool:
    """One column whose name holds a delimiter: the reader could not split the rows."""
    return len(columns) == 1 and any(d in columns[0] for d in _DELIMITERS)


__all__ = [
    "READABLE",
    "TextFiles",
    "check_encoding",
    "check_local_file",
    "diagnose",
    "first_bad_record",
    "input_format",
    "looks_unsplit",
    "reader_agrees",
]
