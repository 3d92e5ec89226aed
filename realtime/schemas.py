"""Client → server websocket messages: a tagged union decoded at one point (`decode_client`).

Today the only client message is `{"type": "ping"}`, answered with a `pong` frame. Anything else
— not JSON, an unknown `type`, extra junk of the wrong shape, a binary frame — closes the
connection with CloseCode.BAD_MESSAGE.
"""

from __future__ import annotations

import msgspec


class Ping(msgspec.Struct, tag_field="type", tag="ping", forbid_unknown_fields=True):
    """Asks for a `pong` frame carrying the last seq sent (clients use it to measure liveness)."""


#: The union of client messages, discriminated by "type". With a single member msgspec would
#: accept a missing tag, so `decode_client` also requires "type" to be present.
ClientMessage = Ping

_decoder = msgspec.json.Decoder(ClientMessage)


class BadClientMessage(ValueError):
    pass


def decode_client(text: str) -> ClientMessage:
    try:
        message = _decoder.decode(text)
        if '"type"' not in text:  # a one-member union does not require its tag
            raise msgspec.ValidationError("missing the 'type' field")
        return message
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadClientMessage(f'expected a client message such as {{"type":"ping"}}: {exc}') from None


class BusMessage(msgspec.Struct, array_like=True):
    """What the publisher sends on an assembly's channel (one per committed event)."""

    assembly_id: int
    seq: int
    type: str
    ts_ms: int
    data: dict[str, object]


bus_encoder = msgspec.json.Encoder()
bus_decoder = msgspec.json.Decoder(BusMessage)
