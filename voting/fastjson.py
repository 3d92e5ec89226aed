"""Moved to the protocol core: `voting.core.fastjson` (the ballot body's parse) and
`voting.core.encoding.jcs_plain`. Kept for `voting.controllers` until it imports them there."""

from voting.core.encoding import jcs_plain
from voting.core.fastjson import parse_ballot_body

__all__ = ["jcs_plain", "parse_ballot_body"]
