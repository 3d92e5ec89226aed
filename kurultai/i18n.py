"""Interface languages: gettext catalogs (Babel) for Kazakh, Russian and English.

The catalogs are `locale/{lang}/LC_MESSAGES/messages.po`. They are compiled in memory when first
used (`babel.messages.mofile.write_mo`), so a fresh clone needs no build step and a stale `.mo`
file can never hide a change to a `.po` file.

The language of a request: the `kurultai_lang` cookie (set by the switch on every page), else the
best match of the browser's Accept-Language, else English.
"""

from __future__ import annotations

import re

import datetime as dt
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_datetime as _format_datetime
from babel.dates import format_time as _format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from markupsafe import Markup

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "kurultai_lang"
#: The names of the languages in themselves, for the switch.
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
#: Kazakhstan has used one time zone (UTC+5) since 2024.
TIMEZONE = dt.timezone(dt.timedelta(hours=5))


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


#: Strings the browser scripts show, by key. Rendered into each page as a JSON data block.
JS_MESSAGES: dict[str, str] = {
    "error": N_("Something went wrong"),
    "saved": N_("Done"),
    "offline": N_("Connection lost. Reconnecting…"),
    "online": N_("Live"),
    "no_ed25519": N_("This browser cannot create Ed25519 keys (WebCrypto). Use a current version of Chromium, Chrome, Edge, Firefox or Safari to vote."),
    "no_secure": N_("Voting keys need a secure connection (HTTPS)."),
    "key_none": N_("This browser has no voting key yet."),
    "key_pending": N_("Your key is waiting for the registrar's approval."),
    "key_approved": N_("Your key is approved."),
    "key_revoked": N_("Your key was revoked. Create a new one."),
    "key_elsewhere": N_("Your voting key is in another browser or device. To vote from this one, revoke that key (above) and create a new one here; the chair approves it."),
    "key_creating": N_("Creating your key…"),
    "signing": N_("Signing and sending your ballot…"),
    "verifying": N_("Checking the receipt…"),
    "recorded": N_("Recorded. The receipt is verified: the server signed a tree head that includes your ballot."),
    "receipt_bad": N_("The receipt did not verify. Your ballot may not be recorded; tell the chair."),
    "receipt_seq": N_("Number on the board"),
    "receipt_revision": N_("Revision"),
    "receipt_leaf_hash": N_("Leaf hash"),
    "receipt_tree_size": N_("Tree size"),
    "receipt_root_hash": N_("Root hash"),
    "err_not_on_roll": N_("Your key is not on this election's roll (it was approved after the vote opened)."),
    "not_on_roll": N_("Your key is not on this election's roll (it was approved after the vote opened)."),
    "moved_up": N_("Moved up"),
    "moved_down": N_("Moved down"),
    "position": N_("Position"),
    "history_ok": N_("History verified: each tree head extends the previous one."),
    "history_bad": N_("WARNING: the server's ballot history does not extend the previous tree head. The record may have been rewritten."),
    "key_changed": N_("WARNING: the server key differs from the key pinned earlier in this browser."),
    "confirm": N_("Confirm"),
    "cancel": N_("Cancel"),
    "reason_required": N_("A reason is required."),
    "you_voted": N_("You have voted (revision %(n)s). Your ballot is shown as it was recorded."),
    "roll_absent": N_("You cannot vote in this vote: it is for the members present, and you were not checked in when it opened."),
    "roll_late": N_("You cannot vote in this vote: your key was approved after the vote opened. Ask the chair about the next vote."),
    "roll_pending": N_("You cannot vote in this vote: your key was still waiting for approval when the vote opened."),
    "roll_none": N_("You cannot vote in this vote: you had no approved voting key when it opened."),
    "roll_other_device": N_("Your key on this vote's roll is in another browser or device: vote there."),
    "err_invalid_input": N_("Some of what you entered is not valid. Check the form and try again."),
    "err_bad_request": N_("Some of what you entered is not valid. Check the form and try again."),
    "err_illegal_transition": N_("This cannot be done at this stage of the item or of the vote."),
    "err_conflict": N_("Somebody changed this meanwhile. The page shows the latest state; try again."),
    "err_forbidden": N_("You are not allowed to do this."),
    "err_not_authenticated": N_("Your session has ended. Log in again."),
    "err_not_found": N_("This no longer exists."),
    "err_rate_limited": N_("Too many attempts. Wait a moment and try again."),
    "err_busy": N_("The server is busy. Try again in a moment."),
    "err_payload_too_large": N_("This is too long."),
    "err_bad_key": N_("This voting key cannot be used. Create a new one."),
    "err_election_not_open": N_("This vote is not open: it has not opened yet, or it has closed."),
    "err_bad_signature": N_("Your ballot was refused: it does not match this vote. Reload the page and cast it again."),
    "err_other": N_("Something went wrong. Try again; if it happens again, tell the chair."),
    "err_network": N_("The server cannot be reached. Check the connection and try again."),
    "err_malformed_ballot": N_("Your ballot was refused: it does not match this vote. Reload the page and cast it again."),
    "err_unknown_option": N_("Your ballot was refused: it does not match this vote. Reload the page and cast it again."),
    "err_duplicate_option": N_("Your ballot was refused: it does not match this vote. Reload the page and cast it again."),
    "err_wrong_election": N_("Your ballot was refused: it does not match this vote. Reload the page and cast it again."),
    "err_internal_error": N_("Something went wrong. Try again; if it happens again, tell the chair."),
    "now_speaking": N_("Now speaking: %(name)s"),
    "nobody_speaking": N_("Nobody has the floor."),
    "vote_opened": N_("The vote “%(title)s” is open."),
    "vote_closed": N_("The vote “%(title)s” has closed."),
    "thirty_seconds": N_("30 seconds of speaking time left."),
    "time_over": N_("The speaking time is over."),
    "choose_first": N_("Choose yes, no or abstain first."),
    "region_stale": N_("This part has changed meanwhile; it is brought up to date when you send or clear your entry."),
}

PHASES = {
    "pending": N_("pending"),
    "debate": N_("debate"),
    "amendments": N_("amendments"),
    "voting": N_("voting"),
    "closed": N_("closed"),
}
AMENDMENT_STATUSES = {
    "draft": N_("draft"),
    "submitted": N_("submitted"),
    "admitted": N_("admitted"),
    "withdrawn": N_("withdrawn"),
    "rejected": N_("rejected"),
    "adopted": N_("adopted"),
}
AMENDMENT_KINDS = {
    "replace": N_("replace the text"),
    "delete": N_("delete the provision"),
    "insert_after": N_("insert a new provision after"),
}
STANCES = {"for": N_("for"), "against": N_("against"), "neutral": N_("neutral")}
SPEECH_TYPES = {
    "contribution": N_("contribution"),
    "pro": N_("pro"),
    "contra": N_("contra"),
    "point_of_order": N_("point of order"),
    "question": N_("interposed question"),
    "intervention": N_("intervention"),
}
KEY_STATUSES = {"pending": N_("awaiting approval"), "approved": N_("approved"), "revoked": N_("revoked")}
ELECTION_STATUSES = {"draft": N_("not open yet"), "open": N_("open"), "closed": N_("closed")}
METHODS = {
    "schulze": N_("Schulze method"),
    "ranked_pairs": N_("ranked pairs"),
    "irv": N_("instant-runoff"),
    "borda": N_("Borda count"),
    "plurality": N_("plurality"),
    "yes_no": N_("yes or no"),
}
#: Option labels the server writes in English; translated by option id.
OPTION_LABELS = {"status_quo": N_("Keep the current text"), "yes": N_("Yes"), "no": N_("No"), "abstain": N_("Abstain")}


@cache
def translations(lang: str) -> Translations:
    """The catalog of `lang`, compiled from its .po file in memory."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}, want one of {LANGUAGES}")
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain="messages")


def parse_accept_language(header: str | None) -> list[str]:
    """Primary language tags by preference (q-values honoured, q=0 dropped)."""
    found: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")[:40]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        tag = tag.strip().lower()
        if tag and q > 0:
            found.append((-q, i, tag.split("-")[0]))
    return [t for _, _, t in sorted(found)]


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie  # type: ignore[return-value]
    for tag in parse_accept_language(accept_language):
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Lang:
    """Everything a template needs to speak one language."""

    code: str

    @property
    def tr(self) -> Translations:
        return translations(self.code)

    def gettext(self, message: str, **variables: Any) -> Markup:
        """Newstyle gettext for autoescaped templates: the translation is trusted, variables are escaped."""
        rv = Markup(self.tr.gettext(message))
        return rv % variables if variables else rv

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> Markup:
        rv = Markup(self.tr.ngettext(singular, plural, n))
        return rv % {"num": self.number(n), **variables}

    def text(self, message: str) -> str:
        """A plain (unescaped) translation, for JSON and SVG builders that escape themselves."""
        return self.tr.gettext(message)

    def label(self, table: dict[str, str], value: str | None) -> str:
        return self.tr.gettext(table[value]) if value in table else (value or "")

    def title_of(self, obj: dict[str, Any]) -> str:
        """An assembly's title in this language when it has one, else its main title (the
        set-up form makes that the first title given in the order kk, ru, en), else the first
        title it has in that order (docs/api.md, "Languages of an assembly")."""
        return self._in_language(obj, "titles", "title")

    def description_of(self, obj: dict[str, Any]) -> str:
        """An assembly's description, falling back in the same order as its title."""
        return self._in_language(obj, "descriptions", "description")

    def _in_language(self, obj: dict[str, Any], many: str, main: str) -> str:
        by_lang = obj.get(many) or {}
        return by_lang.get(self.code) or obj.get(main) or next((by_lang[code] for code in LANGUAGES if by_lang.get(code)), "")

    def reason(self, text: str | None) -> str:
        """An amendment's recorded decision in this language: the reason the server writes when
        a vote chose another option ("not adopted: election 2 chose status_quo") is translated;
        a reason a chair typed is shown as typed."""
        m = re.fullmatch(r"not adopted: election (\d+) chose (\S+)", text or "")
        if m is None:
            return text or ""
        winner = m.group(2)
        if winner in OPTION_LABELS:
            chosen = self.tr.gettext(OPTION_LABELS[winner])
        elif winner.startswith("amendment-"):
            chosen = self.tr.gettext("amendment %(n)s") % {"n": winner.split("-", 1)[1]}
        else:
            chosen = winner
        return self.tr.gettext("not adopted: vote %(id)s chose “%(winner)s”") % {"id": m.group(1), "winner": chosen}

    def number(self, n: int | float) -> str:
        return format_decimal(n, locale=self.code)

    def percent(self, x: float) -> str:
        return format_percent(x, locale=self.code)

    def datetime(self, value: str | None, fmt: str = "medium") -> str:
        """An RFC 3339 time (as the API writes it) in the local time of Kazakhstan."""
        if not value:
            return ""
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return _format_datetime(when, fmt, tzinfo=TIMEZONE, locale=self.code)

    def time(self, value: str | None) -> str:
        if not value:
            return ""
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return _format_time(when.astimezone(TIMEZONE), "short", locale=self.code)

    def js_messages(self) -> dict[str, str]:
        return {k: self.tr.gettext(v) for k, v in JS_MESSAGES.items()}

    def context(self) -> dict[str, Any]:
        """The template variables of this language."""
        return {
            "lang": self.code,
            "L": self,
            "_": self.gettext,
            "gettext": self.gettext,
            "ngettext": self.ngettext,
            "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            "phases": PHASES,
            "amendment_statuses": AMENDMENT_STATUSES,
            "amendment_kinds": AMENDMENT_KINDS,
            "stances": STANCES,
            "speech_types": SPEECH_TYPES,
            "key_statuses": KEY_STATUSES,
            "election_statuses": ELECTION_STATUSES,
            "methods": METHODS,
            "option_labels": OPTION_LABELS,
        }
