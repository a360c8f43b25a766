"""Reading import files: encoding detection, CSV/XLSX/XLS, header-row detection, report total rows.

Everything comes back as strings (``RawTable.frame``); the typed parsers of ``lib.core.values``
(numbers, dates, re-exported here) turn them into values and say which cells they could not read.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import importlib.util
import io
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lib.core.errors import InvalidArgument
from lib.core.values import half_width, parse_date, parse_dates, parse_number, parse_numbers

HEAD_LINES = 30          # lines looked at to find the header row
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")


@dataclass(frozen=True)
class RawTable:
    """A file as read: column names and every cell as a string ("" when empty).

    ``header_row`` is the 0-based line (CSV) or row (sheet) of the header; ``sheets`` lists the
    workbook's sheets (empty for CSV); ``encoding`` is the detected text encoding (None for XLSX);
    ``sha256`` is the hash of the file's bytes, used to refuse a second import of the same file.
    """

    columns: tuple[str, ...]
    frame: pd.DataFrame
    filename: str
    sheets: tuple[str, ...] = ()
    sheet: str | None = None
    encoding: str | None = None
    header_row: int = 0
    delimiter: str = ","
    sha256: str = ""
    title: tuple[str, ...] = field(default_factory=tuple)
    total_rows_dropped: int = 0   # 合计/总计 rows below the data, not imported
    width: int = 0            # the most cells in a data row of the head (CSV), ≥ len(columns) when rows run wider


# ---- encodings -------------------------------------------------------------------------------

def detect_encoding(data: bytes) -> str:
    """'utf-8-sig', 'utf-8', 'gbk' or 'gb18030', from the bytes themselves.

    >>> detect_encoding("\\ufeff日期".encode("utf-8")), detect_encoding("日期".encode("utf-8"))
    ('utf-8-sig', 'utf-8')
    >>> detect_encoding("销售日期,数量".encode("gbk")), detect_encoding("€".encode("gb18030"))
    ('gbk', 'gb18030')
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    sample = data[:4_000_000]
    for enc in ("utf-8", "gbk", "gb18030"):
        try:
            sample.decode(enc)
            return enc
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is not a decoding error.
            if len(sample) < len(data) and exc.start >= len(sample) - 4:
                try:
                    sample[:exc.start].decode(enc)
                    return enc
                except UnicodeDecodeError:
                    pass
    raise InvalidArgument(
        "The file is not text in UTF-8, GBK or GB18030: save it as CSV (UTF-8) or XLSX and try again.",
        "文件不是 UTF-8、GBK 或 GB18030 编码的文本：请另存为 CSV（UTF-8）或 XLSX 后重试。")


# ---- header detection ------------------------------------------------------------------------

def _is_texty(cell: str) -> bool:
    c = cell.strip()
    return bool(c) and parse_number(c) is None and parse_date(c) is None


def find_header(rows: list[list[str]]) -> int:
    """The index of the header row among the first rows of a report.

    Title rows ("销售明细表", "制表日期：2024-03-05") fill fewer cells than the table below them;
    the header is the first row as wide as the table whose cells are mostly text.

    >>> find_header([["销售明细表"], ["单位：元", "", ""], ["日期", "客户", "金额"], ["2024-03-05", "甲", "1"]])
    2
    >>> find_header([["date", "qty"], ["2024-01-01", "3"]])
    0
    """
    widths = [sum(1 for c in r if str(c).strip()) for r in rows]
    if not widths:
        return 0
    wide = max(widths)
    for i, r in enumerate(rows):
        filled = widths[i]
        if filled >= max(2, math.ceil(0.8 * wide)) or (wide == 1 and filled == 1):
            texty = sum(1 for c in r if _is_texty(str(c)))
            if texty >= 0.6 * filled:
                return i
    return 0


def _unique_names(names: list[str]) -> tuple[str, ...]:
    """Header cells made usable as column names: stripped, empty ones named, repeats numbered."""
    out: list[str] = []
    for i, n in enumerate(names):
        base = str(n).strip().replace("\n", " ") or f"col{i + 1}"
        name, k = base, 2
        while name in out:
            name, k = f"{base}.{k}", k + 1
        out.append(name)
    return tuple(out)


# ---- reading ---------------------------------------------------------------------------------

def _bytes_of(data: bytes | Path | str) -> bytes:
    return Path(data).read_bytes() if isinstance(data, (Path, str)) else bytes(data)


def read_file(data: bytes | Path, filename: str, *, sheet: str | int | None = None,
              nrows: int | None = None) -> RawTable:
    """Read a CSV/TXT (UTF-8, UTF-8 with BOM, GBK, GB18030), XLSX or XLS file into a :class:`RawTable`.

    Title rows above the header are skipped (see :func:`find_header`). ``sheet`` picks a sheet of a
    workbook by name or 0-based index (default: the first); ``nrows`` limits the data rows read.
    """
    raw = _bytes_of(data)
    digest = hashlib.sha256(raw).hexdigest()
    suffix = Path(filename).suffix.lower()
    if suffix in CSV_SUFFIXES or suffix == "":
        return _read_csv(raw, filename, digest, nrows)
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(raw, filename, digest, sheet, nrows)
    if suffix == ".xls":
        return _read_xls(raw, filename, digest, sheet, nrows)
    raise InvalidArgument(
        f"Cannot read {filename!r}: use CSV, TXT, XLSX or XLS.",
        f"无法读取 {filename!r}：请使用 CSV、TXT、XLSX 或 XLS 文件。")


def _sniff_delimiter(lines: list[str]) -> str:
    counts = {d: max((ln.count(d) for ln in lines), default=0) for d in (",", "\t", ";", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _csv_head(text_head: str) -> tuple[list[list[str]], str]:
    lines = text_head.splitlines()[:HEAD_LINES]
    delim = _sniff_delimiter(lines)
    return list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim)), delim


def _read_csv(raw: bytes, filename: str, digest: str, nrows: int | None) -> RawTable:
    enc = detect_encoding(raw)
    head = raw[:200_000].decode(enc, errors="ignore")
    rows, delim = _csv_head(head)
    hdr = find_header(rows)
    with _csv_errors(filename):
        frame = pd.read_csv(io.BytesIO(raw), encoding=enc, sep=delim, skiprows=hdr, header=0, dtype=str,
                            keep_default_na=False, nrows=nrows, skip_blank_lines=True, engine="c",
                            index_col=False)
    width = max((len(r) for r in rows[hdr:]), default=0)
    return _finish(frame, filename, digest, encoding=enc, header_row=hdr, delimiter=delim, width=width,
                   title=tuple(" ".join(c for c in r if c.strip()) for r in rows[:hdr]))


def iter_csv(path: Path, raw: RawTable, chunksize: int = 200_000,
             bad_rows: list[tuple[int | None, int, int, str]] | None = None) -> Iterator[pd.DataFrame]:
    """The data rows of a large CSV in chunks of strings, with the header ``raw`` found in its head.

    pyarrow parses (multi-threaded); GBK/GB18030 is transcoded to UTF-8 block by block on the way in.
    Rows wider than the header (ERP exports often end every line with a separator) get unnamed columns.
    With ``bad_rows`` given, rows with another number of cells are skipped and listed there as
    (line number, expected cells, actual cells, text) for the problem report; otherwise they raise.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    names = list(raw.columns) + [f"_extra{i}" for i in range(max(0, raw.width - len(raw.columns)))]
    source = open(path, "rb") if raw.encoding in ("utf-8", "utf-8-sig") else _Utf8Reader(path, raw.encoding)
    with _csv_errors(raw.filename), source:
        reader = pacsv.open_csv(
            source, read_options=pacsv.ReadOptions(skip_rows=raw.header_row + 1, column_names=names,
                                                   block_size=8 << 20),
            parse_options=pacsv.ParseOptions(delimiter=raw.delimiter, newlines_in_values=True,
                                             invalid_row_handler=None if bad_rows is None else _skipper(bad_rows)),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
        pending: list = []
        size = 0
        for batch in reader:
            pending.append(pa.Table.from_batches([batch]))
            size += batch.num_rows
            while size >= chunksize:
                table = pa.concat_tables(pending)
                yield _arrow_frame(table.slice(0, chunksize), raw.columns)
                rest = table.slice(chunksize)
                pending, size = [rest], rest.num_rows
        if size:
            yield _arrow_frame(pa.concat_tables(pending), raw.columns)


def _skipper(bad_rows: list):
    def handle(row) -> str:
        bad_rows.append((row.number, row.expected_columns, row.actual_columns, row.text[:200]))
        return "skip"
    return handle


def _arrow_frame(table, columns: tuple[str, ...]) -> pd.DataFrame:
    # A total row can only be the file's last rows, but dropping it per chunk costs little.
    return drop_total_rows(table.select(list(columns)).to_pandas())[0]


class _Utf8Reader(io.RawIOBase):
    """A file read as UTF-8 whatever its encoding, block by block (bounded memory)."""

    def __init__(self, path: Path, encoding: str) -> None:
        import codecs
        self._fh = open(path, "rb")
        self._dec = codecs.getincrementaldecoder(encoding)()
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while len(self._buf) < len(b):
            block = self._fh.read(4 << 20)
            self._buf += self._dec.decode(block, final=not block).encode("utf-8")
            if not block:
                break
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


@contextlib.contextmanager
def _csv_errors(filename: str) -> Iterator[None]:
    """A malformed CSV (a row with more cells than the header, a quote never closed) as a clear error."""
    try:
        with warnings.catch_warnings():
            # pandas only warns when a row has more cells than the header, and drops them.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            yield
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument(
            f"{filename!r} is not a well-formed CSV: {str(exc).strip()}. Quote cells that contain the separator "
            "(e.g. \"1,234\").",
            f"{filename!r} 不是格式正确的 CSV：{str(exc).strip()}。含分隔符的单元格需加引号（如 \"1,234\"）。") from exc


def read_csv_head(path: Path, filename: str | None = None, lines: int = 500) -> RawTable:
    """The header and the first ``lines`` data rows of a CSV on disk (for mapping a large file).

    ``sha256`` is the hash of the whole file, read in blocks.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        head = fh.read(1_000_000)
        h.update(head)
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    cut = head.rfind(b"\n") + 1 if len(head) == 1_000_000 else len(head)
    table = _read_csv(head[:cut], filename or Path(path).name, h.hexdigest(), lines)
    return table


def _xlsx_rows(ws, nrows: int | None) -> list[list[str]]:
    out = []
    for row in ws.iter_rows(values_only=True):
        out.append([cell_text(v) for v in row])
        if nrows is not None and len(out) > nrows + HEAD_LINES:
            break
    while out and not any(c.strip() for c in out[-1]):
        out.pop()
    return out


def _pick_sheet(names: list[str], sheet: str | int | None) -> str:
    if sheet is None:
        return names[0]
    if isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit() and sheet not in names):
        i = int(sheet)
        if 0 <= i < len(names):
            return names[i]
    elif sheet in names:
        return sheet
    raise InvalidArgument(f"No sheet {sheet!r} in the workbook. Sheets: {', '.join(names)}.",
                          f"工作簿中没有工作表 {sheet!r}。现有：{'、'.join(names)}。")


def _read_xlsx(raw: bytes, filename: str, digest: str, sheet: str | int | None, nrows: int | None) -> RawTable:
    import openpyxl
    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a damaged or mislabelled file
        raise InvalidArgument(f"{filename!r} is not a readable XLSX workbook ({exc}).",
                              f"{filename!r} 不是可读取的 XLSX 工作簿（{exc}）。") from exc
    try:
        names = list(wb.sheetnames)
        name = _pick_sheet(names, sheet)
        rows = _xlsx_rows(wb[name], nrows)
    finally:
        wb.close()
    return _from_rows(rows, filename, digest, tuple(names), name, nrows)


def _read_xls(raw: bytes, filename: str, digest: str, sheet: str | int | None, nrows: int | None) -> RawTable:
    engine = next((e for e, mod in (("calamine", "python_calamine"), ("xlrd", "xlrd"))
                   if importlib.util.find_spec(mod)), None)
    if engine is None:
        raise InvalidArgument(
            f"{filename!r} is an old Excel .xls file and no .xls reader (xlrd or python-calamine) is "
            "installed. Open it in Excel or WPS and save it as .xlsx or CSV, then import that.",
            f"{filename!r} 是旧版 Excel（.xls）文件，而系统未安装 .xls 读取组件（xlrd 或 python-calamine）。"
            "请在 Excel 或 WPS 中另存为 .xlsx 或 CSV 后再导入。")
    book = pd.read_excel(io.BytesIO(raw), sheet_name=None, header=None, dtype=object, engine=engine)
    names = list(book)
    name = _pick_sheet(names, sheet)
    rows = [[cell_text(v) for v in r] for r in book[name].itertuples(index=False)]
    return _from_rows(rows, filename, digest, tuple(names), name, nrows)


def _from_rows(rows: list[list[str]], filename: str, digest: str, sheets: tuple[str, ...], sheet: str,
               nrows: int | None) -> RawTable:
    hdr = find_header(rows[:HEAD_LINES])
    header = rows[hdr] if rows else []
    width = max((len(r) for r in rows), default=0)
    names = _unique_names(list(header) + [""] * (width - len(header)))
    body = [r + [""] * (width - len(r)) for r in rows[hdr + 1:]]
    body = [r for r in body if any(c.strip() for c in r)]
    if nrows is not None:
        body = body[:nrows]
    frame = pd.DataFrame(body, columns=list(names), dtype=object) if body else pd.DataFrame(columns=list(names))
    # Trailing unnamed, empty columns (a sheet's formatting reaches further than its data) go.
    keep = [c for c in frame.columns if not (c.startswith("col") and not frame[c].astype(str).str.strip().any())]
    return _finish(frame[keep], filename, digest, sheets=sheets, sheet=sheet, header_row=hdr,
                   title=tuple(" ".join(c for c in r if c.strip()) for r in rows[:hdr]))


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.fillna("").astype(str)


TOTAL_WORDS = ("合计", "总计", "小计", "共计", "total", "subtotal", "grand total")


def drop_total_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows a report adds below its data (合计, 总计, Total …: their first filled cell says so) removed.

    >>> f = pd.DataFrame({"a": ["2024-03-05", "合计", ""], "b": ["1", "3", "总计："]})
    >>> drop_total_rows(f)[1]
    2
    """
    if frame.empty or not len(frame.columns):
        return frame, 0
    words = {w.replace(" ", "") for w in TOTAL_WORDS}

    def is_total(cell: str) -> bool:
        return "".join(str(cell).split()).rstrip(":：").lower() in words

    # Only rows whose first cell is empty or a total word are candidates: one vectorised look per chunk.
    first = frame.iloc[:, 0].astype(str).str.strip()
    cand = np.flatnonzero(((first == "") | first.str.rstrip(":：").str.lower().isin(words)).to_numpy())
    total = np.zeros(len(frame), dtype=bool)
    values = frame.iloc[cand].to_numpy(dtype=object) if len(cand) else []
    for i, row in zip(cand, values):
        filled = next((c for c in row if str(c).strip()), "")
        total[i] = is_total(filled)
    return (frame[~total].reset_index(drop=True), int(total.sum())) if total.any() else (frame, 0)


def _finish(frame: pd.DataFrame, filename: str, digest: str, **kw) -> RawTable:
    frame = _clean(frame)
    frame.columns = list(_unique_names([str(c) for c in frame.columns]))
    frame, dropped = drop_total_rows(frame.reset_index(drop=True))
    return RawTable(columns=tuple(frame.columns), frame=frame, filename=filename, sha256=digest,
                    total_rows_dropped=dropped, **kw)


def cell_text(v: object) -> str:
    """A spreadsheet cell as text: real Excel dates as ISO dates, whole floats without '.0'.

    >>> cell_text(dt.datetime(2024, 3, 5)), cell_text(12.0), cell_text(0.125), cell_text(None)
    ('2024-03-05', '12', '0.125', '')
    """
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


__all__ = ["RawTable", "cell_text", "detect_encoding", "drop_total_rows", "find_header", "half_width", "iter_csv",
           "parse_date", "parse_dates", "parse_number", "parse_numbers", "read_csv_head", "read_file"]
