"""A signature-check worker process: `python -m voting.sigworker`, started by `voting.signatures`.

It reads batches of Ed25519 checks from stdin and writes one answer per batch to stdout, in the
order the batches came. It imports only the pure core (`voting.core.keys`), so it starts in a
fraction of a second and holds no database, socket or key of the server.

The frames (little-endian; `voting.signatures` writes and reads the other end):

    request:  frame id u32, count u32, body length u32, then `count` times
              public key (32 bytes), signature (64 bytes), message length u32, message
    answer:   frame id u32, count u32, then `count` bytes: 1 where the signature verifies, else 0

The worker exits when stdin closes (the server stopped, or died: the kernel closes its end of
the pipe). It ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and the
server, which is still finishing its requests, decides when its workers stop.
"""

from __future__ import annotations

import signal
import struct
import sys
from typing import BinaryIO

from voting.core.keys import verify_signature

REQUEST_HEAD = struct.Struct("<III")
ANSWER_HEAD = struct.Struct("<II")
ITEM_HEAD = struct.Struct("<32s64sI")


def check_frame(body: bytes, count: int) -> bytes:
    """The answers for one request body: a byte per check, 1 when it verifies."""
    answers = bytearray(count)
    at = 0
    for i in range(count):
        key, signature, size = ITEM_HEAD.unpack_from(body, at)
        at += ITEM_HEAD.size
        try:
            verify_signature(key, body[at : at + size], signature)
        except Exception:  # BadSignatureError, or anything the key library raises: not valid
            pass
        else:
            answers[i] = 1
        at += size
    return bytes(answers)


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Answer frames until `inp` ends (a frame cut short by the end is dropped)."""
    while True:
        head = inp.read(REQUEST_HEAD.size)
        if len(head) < REQUEST_HEAD.size:
            return
        frame_id, count, size = REQUEST_HEAD.unpack(head)
        body = inp.read(size)
        if len(body) < size:
            return
        out.write(ANSWER_HEAD.pack(frame_id, count) + check_frame(body, count))
        out.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
