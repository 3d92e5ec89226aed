"""Members from a spreadsheet (issue #18): read a CSV or .xlsx list of delegates, check every row,
and write the users and their memberships in one transaction.

The header names the columns `display_name,username,email,role,weight,language` (any order,
case and surrounding spaces ignored; other columns are ignored; only `display_name` is
required). A CSV is UTF-8, with or without a byte-order mark, its delimiter a comma or a
semicolon (whichever the header line holds more of). An .xlsx is read from its first sheet with
openpyxl in read-only mode, after the checks a draft document gets (deliberation/draft_import.py:
size, encryption, ZIP bombs, every XML part parsed with defusedxml).

Each row is checked (`check_rows`) and its problems reported with the row number (the header is
row 1): an empty or too long name, a bad or repeated username, a username of someone who is a
member of the assembly already, an unknown role (or a chair or secretary named by someone who is
no administrator), a weight that is not an integer 1-1000000, a language other than kk, ru, en,
a malformed email. An empty username is made from the name (Cyrillic, Kazakh included,
transliterated to ASCII: "Әсел Нұрланова" → "asel.nurlanova"), unique among the users and the
file. A username that is a user already makes that user a member; their account is unchanged.
New users have no password: they get an invitation link.

A file problem is a `MembersImportError` (or a `DraftImportError` of the shared checks); an
import with any row error is refused whole with `InvalidRows` (422), and nothing is written.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from deliberation import draft_import
from deliberation.accounts import USERNAME_RE
from deliberation.assemblies import APPOINTED, LANGUAGES, MAX_WEIGHT, ROLES
from deliberation.common import load, load_locked
from deliberation.context import Ctx
from deliberation.core.errors import DeliberationError
from deliberation.draft_import import CFB_MAGIC, EmptyDocument, EncryptedDocument, MalformedDocument, UnsupportedDocument, check_size
from deliberation.tables import Assembly, Membership, User
from kurultai.unit_of_work import Tx

COLUMNS = ("display_name", "username", "email", "role", "weight", "language")
MAX_ROWS = 10_000
MAX_COLUMNS = 64
MAX_NAME = 200
MAX_EMAIL = 254
DEFAULT_ROLE = "delegate"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
XLSX_WORKBOOK = "xl/workbook.xml"
#: Names of the upload routes beside `/api/assemblies/{aid}/members/{username}`: never a member's.
RESERVED = frozenset({"preview", "import"})
CHUNK = 80  # rows per INSERT: 80 users × 12 columns stay under SQLite's oldest limit of 999 parameters


class MembersImportError(DeliberationError):
    code = "bad_members_file"
    status = 400


class MissingColumn(MembersImportError):
    code = "missing_column"
    status = 422


class NoRows(MembersImportError):
    code = "no_rows"
    status = 422


class TooManyRows(MembersImportError):
    code = "too_many_rows"
    status = 422


class InvalidRows(MembersImportError):
    """Rows with errors: the import is refused whole. `errors` are those of the preview."""

    code = "invalid_rows"
    status = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        shown = "; ".join(f"row {e['row']} {e['field']}: {e['detail']}" for e in errors[:20])
        more = f"; and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} errors, nothing was imported: {shown}{more}")
        self.errors = errors


@dataclass
class Sheet:
    """What a file holds: its format, the known columns and the rows (`(row number, {column: text})`)."""

    format: str  # csv | xlsx
    delimiter: str | None
    columns: list[str]
    ignored: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)


# -- reading --------------------------------------------------------------------------------------


def _clean(value: Any) -> str:
    """A cell as text: spaces collapsed, control characters (a NUL) dropped, 2.0 read as "2"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "".join(ch for ch in str(value) if unicodedata.category(ch) != "Cc" or ch in "\t\n")
    return " ".join(text.split())


def _header_name(cell: Any) -> str:
    return _clean(cell).lower().replace(" ", "_").replace("-", "_")


def _sheet(fmt: str, delimiter: str | None, records: Any) -> Sheet:
    """The `Sheet` of an iterator of records (lists of cells), the first being the header."""
    header = next(records, None)
    while header is not None and not any(_clean(c) for c in header):
        header = next(records, None)  # leading empty lines
    if header is None:
        raise EmptyDocument("the file has no header line; the first line must name the columns display_name,username,email,role,weight,language")
    names = [_header_name(c) for c in header[:MAX_COLUMNS]]
    known = [n for n in names if n in COLUMNS]
    repeated = sorted({n for n in known if known.count(n) > 1})
    if repeated:
        raise MissingColumn(f"the header names the column {', '.join(repeated)} more than once")
    if "display_name" not in known:
        raise MissingColumn(f"the header has no display_name column; want display_name,username,email,role,weight,language, got {','.join(n for n in names if n)[:200]!r}")
    sheet = Sheet(fmt, delimiter, known, [n for n in names if n and n not in COLUMNS])
    at = {n: i for i, n in enumerate(names) if n in COLUMNS}
    for number, record in enumerate(records, start=2):
        values = {n: _clean(record[i]) if i < len(record) else "" for n, i in at.items()}
        if not any(values.values()) and not any(_clean(c) for c in record[:MAX_COLUMNS]):
            continue  # an empty line
        if len(sheet.rows) >= MAX_ROWS:
            raise TooManyRows(f"the file has more than {MAX_ROWS} rows; import at most {MAX_ROWS} members at once")
        sheet.rows.append((number, values))
    if not sheet.rows:
        raise NoRows("the file has a header but no member rows")
    return sheet


def _read_csv(data: bytes) -> Sheet:
    if b"\x00" in data[:65536]:
        raise UnsupportedDocument("this is a binary file, not a CSV text or an .xlsx workbook; save the list as CSV (UTF-8) or .xlsx")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedDocument(f"the CSV is not UTF-8 (byte {exc.start}); save it as “CSV UTF-8”") from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def records() -> Any:
        try:
            yield from reader
        except csv.Error as exc:
            raise MalformedDocument(f"the CSV cannot be read at line {reader.line_num}: {exc}") from None

    return _sheet("csv", delimiter, records())


def _read_xlsx(data: bytes, limit: int) -> Sheet:
    zf = draft_import._open_zip(data, limit)  # entries, encryption flag, zip bombs
    if XLSX_WORKBOOK not in set(zf.namelist()):
        raise UnsupportedDocument("this ZIP archive is not an Excel workbook (.xlsx); save the list as .xlsx or CSV")
    draft_import._check_xml_parts(zf)  # every XML part with defusedxml: no DTD, no entities
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises KeyError, ValueError, TypeError, lxml errors, InvalidFileException…
        raise MalformedDocument(f"the .xlsx cannot be opened: {type(exc).__name__}: {exc}") from None
    try:
        if not workbook.worksheets:
            raise EmptyDocument("the workbook has no sheet")
        rows = workbook.worksheets[0].iter_rows(max_col=MAX_COLUMNS, values_only=True)

        def records() -> Any:
            try:
                for row in rows:
                    yield list(row)
            except DeliberationError:
                raise
            except Exception as exc:
                raise MalformedDocument(f"the .xlsx cannot be read: {type(exc).__name__}: {exc}") from None

        return _sheet("xlsx", None, records())
    finally:
        workbook.close()


def read_members_file(data: bytes, filename: str | None = None, limit: int = draft_import.DEFAULT_MAX_BYTES) -> Sheet:
    """The `Sheet` of an uploaded CSV or .xlsx; the format is taken from the content (the file
    name only makes the error clearer)."""
    check_size(len(data), limit)
    if not data.strip() or not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise EmptyDocument("the file is empty")
    ext = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if data.startswith(CFB_MAGIC):
        raise EncryptedDocument("this is a password-protected workbook or an old Excel .xls; save it without a password as .xlsx or CSV")
    if data.startswith(b"%PDF"):
        raise UnsupportedDocument("PDF files are not read; save the list as CSV (UTF-8) or .xlsx")
    if data.startswith(b"PK"):
        return _read_xlsx(data, limit)
    if ext in ("xlsx", "xls", "ods"):
        raise MalformedDocument(f"this file is named .{ext} but is not an .xlsx workbook (it is not a ZIP archive)")
    return _read_csv(data)


# -- checking -------------------------------------------------------------------------------------

#: Cyrillic (Russian and Kazakh) to ASCII, lower case; anything else loses its accents.
TRANSLIT = {
    "а": "a", "ә": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "е": "e", "ё": "yo", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "і": "i", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n", "ң": "n",
    "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ұ": "u", "ү": "u", "ф": "f",
    "х": "kh", "һ": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "yu", "я": "ya",
}  # fmt: skip


def transliterate(name: str) -> str:
    """ASCII letters and digits of a name, words joined by dots: "Әсел Нұрланова" → "asel.nurlanova"."""
    words = []
    for word in name.lower().split():
        text = "".join(TRANSLIT.get(ch, ch) for ch in word)
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        text = re.sub(r"[^a-z0-9]", "", text)
        if text:
            words.append(text)
    return ".".join(words)[:48].strip(".")


def make_username(name: str, taken: set[str]) -> str:
    """A username from the name, not in `taken` (lower-cased names): "asel.nurlanova", then
    "asel.nurlanova2", …"""
    base = transliterate(name)
    if len(base) < 2:
        base = f"member{base}"
    candidate, n = base, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{base}{n}"
    return candidate


@dataclass
class Known:
    """What the database holds that a file is checked against: every username (lower case), and
    the usernames of the assembly's members."""

    users: dict[str, str]  # lower case -> as stored
    members: set[str]


async def known(assembly_id: int) -> Known:
    users = {r["username"].lower(): r["username"] for r in await User.select(User.username)}
    rows = await Membership.select(Membership.user.username.as_alias("username")).where(Membership.assembly == assembly_id)
    return Known(users, {r["username"] for r in rows})


def _weight(text: str) -> int | None:
    """The weight of a cell: an integer 1-1000000; "2.0" (a spreadsheet's number) is 2, but "1,000"
    or "1.000" is refused (a thousands separator or a decimal? ambiguous: never read as 1)."""
    if not text:
        return 1
    try:
        value = float(text.replace(",", ".")) if re.fullmatch(r"\d+([.,]0)?", text) else None
    except ValueError:
        return None
    return int(value) if value is not None and 1 <= value <= MAX_WEIGHT else None


def check_rows(sheet: Sheet, have: Known, *, may_appoint: bool) -> dict[str, Any]:
    """The preview: the rows as they would be written, and every row's errors. `may_appoint`:
    the caller is an administrator, who may name chairs (moderator) and secretaries."""
    errors: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []

    def error(row: int, name: str, code: str, detail: str) -> None:
        errors.append({"row": row, "field": name, "code": code, "detail": detail})

    explicit: dict[str, int] = {}
    for number, values in sheet.rows:
        username = values.get("username", "")
        if username and USERNAME_RE.match(username):
            explicit.setdefault(username.lower(), number)
    taken = set(have.users) | set(explicit) | RESERVED
    seen: dict[str, int] = {}
    for number, values in sheet.rows:
        name = values.get("display_name", "")
        if not name:
            error(number, "display_name", "empty_name", "the name is empty; every member needs a display_name")
        elif len(name) > MAX_NAME:
            error(number, "display_name", "name_too_long", f"the name has {len(name)} characters; at most {MAX_NAME}")
        username = values.get("username", "")
        generated = False
        if not username:
            if name:  # else the name's error says it all
                username = make_username(name, taken)
                taken.add(username.lower())
                generated = True
        elif not USERNAME_RE.match(username):
            error(number, "username", "bad_username", f"username must be 2-64 characters of letters, digits, '_', '.' or '-', got {username[:80]!r}")
        elif username.lower() in RESERVED:
            error(number, "username", "bad_username", f"the username {username!r} is reserved; choose another")
        elif username.lower() in seen:
            error(number, "username", "duplicate_username", f"username {username!r} is also on row {seen[username.lower()]}")
        existing = have.users.get(username.lower()) if username and not generated else None
        if existing is not None and existing != username:
            error(number, "username", "duplicate_username", f"username {username!r} differs only in case from the user {existing!r}")
        elif existing is not None and existing in have.members:
            error(number, "username", "already_member", f"{existing!r} is a member of this assembly already; change their role or weight in the members list")
        if username:
            seen.setdefault(username.lower(), number)
        role = values.get("role", "").lower() or DEFAULT_ROLE
        if role in ("chair", "председатель", "төраға"):
            role = "moderator"
        if role not in ROLES:
            error(number, "role", "unknown_role", f"role must be one of {', '.join(ROLES)}, got {values.get('role', '')[:40]!r}")
        elif role in APPOINTED and not may_appoint:
            error(number, "role", "appointed_role", f"only an administrator appoints a {role}; import delegates and observers")
        weight = _weight(values.get("weight", ""))
        if weight is None:
            error(number, "weight", "bad_weight", f"weight must be an integer 1-{MAX_WEIGHT}, got {values.get('weight', '')[:40]!r}")
        language = values.get("language", "").lower() or None
        if language is not None and language not in LANGUAGES:
            error(number, "language", "bad_language", f"language must be one of {', '.join(LANGUAGES)} or empty, got {values.get('language', '')[:40]!r}")
        email = values.get("email", "") or None
        if email is not None and (len(email) > MAX_EMAIL or not EMAIL_RE.match(email)):
            error(number, "email", "bad_email", f"not an email address: {email[:80]!r}")
        rows.append(
            {
                "row": number,
                "display_name": name,
                "username": existing or username,
                "username_generated": generated,
                "existing_user": existing is not None,
                "email": email,
                "role": role,
                "weight": weight or 1,
                "language": language,
            }
        )
    return {"format": sheet.format, "delimiter": sheet.delimiter, "columns": sheet.columns, "ignored_columns": sheet.ignored, "rows": rows, "errors": errors}


async def preview(assembly_id: int, sheet: Sheet, *, may_appoint: bool) -> dict[str, Any]:
    await load(Assembly, assembly_id, "assembly")
    return check_rows(sheet, await known(assembly_id), may_appoint=may_appoint)


# -- writing --------------------------------------------------------------------------------------


async def import_members(ctx: Ctx, assembly_id: int, actor: str, sheet: Sheet, *, may_appoint: bool) -> dict[str, Any]:
    """Write the new users (no password) and every row's membership in one transaction, checked
    again under the assembly's lock; `InvalidRows` (nothing written) while any row has an error.
    Audited: `user.created` per new user (the global chain, as `accounts.create_user`) and one
    `members.imported` in the assembly's chain; announced by one `members.updated` event
    `{"imported": n}` (a client reloads the list)."""

    async def run(tx: Tx) -> dict[str, Any]:
        await load_locked(tx, Assembly, assembly_id, "assembly")
        found = check_rows(sheet, await known(assembly_id), may_appoint=may_appoint)
        if found["errors"]:
            raise InvalidRows(found["errors"])
        new = [r for r in found["rows"] if not r["existing_user"]]
        for start in range(0, len(new), CHUNK):
            await User.insert(
                *[User(username=r["username"], display_name=r["display_name"], password_hash=None, email=r["email"], language=r["language"], created_ms=tx.now_ms) for r in new[start : start + CHUNK]]
            )
        for r in new:
            await tx.audit(0, actor, "user.created", {"username": r["username"], "is_admin": False, "import": assembly_id})
        names = [r["username"] for r in found["rows"]]
        users: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), CHUNK):
            users |= {u["username"]: u for u in await User.select(User.id, User.username, User.display_name).where(User.username.is_in(names[start : start + CHUNK]))}
        rows = found["rows"]
        for start in range(0, len(rows), CHUNK):
            await Membership.insert(*[Membership(assembly=assembly_id, user=users[r["username"]]["id"], role=r["role"], weight=r["weight"], active=True) for r in rows[start : start + CHUNK]])
        entries = [{"username": r["username"], "role": r["role"], "weight": r["weight"]} for r in rows]
        await tx.audit(assembly_id, actor, "members.imported", {"members": entries, "created_users": len(new)})
        await tx.emit(assembly_id, "members.updated", {"imported": len(entries)})
        members = [
            {**{k: users[r["username"]][k] for k in ("username", "display_name")}, "user_id": users[r["username"]]["id"], "role": r["role"], "weight": r["weight"], "active": True} for r in rows
        ]
        return {"assembly": assembly_id, "created_users": len(new), "members": members}

    return await ctx.write(run)
