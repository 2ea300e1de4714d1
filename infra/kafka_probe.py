"""A dependency-free Kafka Metadata request, to tell whether a broker really answers.

A listening TCP port is not enough (a half-started broker accepts connections); a
decoded Metadata response naming at least one broker is. Client libraries would do,
but they log connection errors while the broker is still starting.
"""

from __future__ import annotations

import socket
import struct

_METADATA_API_KEY = 3
_CLIENT_ID = b"lmis-hub-probe"


def _metadata_request(correlation_id: int) -> bytes:
    # Request header v1 (api_key, api_version, correlation_id, client_id) + Metadata v0
    # body: an empty topic array asks about no topic, which every broker answers.
    body = struct.pack(">hhih", _METADATA_API_KEY, 0, correlation_id, len(_CLIENT_ID))
    body += _CLIENT_ID + struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def _read_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        chunks += chunk
    return bytes(chunks)


def broker_count(host: str, port: int, *, timeout: float = 1.0) -> int:
    """Send one Metadata request; return how many brokers the cluster reports.

    Raises ``OSError`` (including ``ConnectionError`` and ``TimeoutError``) when the
    broker does not answer with a well-formed response.
    """
    correlation_id = 0x4C4D4953  # "LMIS"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(_metadata_request(correlation_id))
        (size,) = struct.unpack(">i", _read_exact(sock, 4))
        if not 8 <= size <= 16 * 1024 * 1024:
            raise ConnectionError(f"implausible Metadata response size {size}")
        payload = _read_exact(sock, size)
    got_id, brokers = struct.unpack(">ii", payload[:8])
    if got_id != correlation_id:
        raise ConnectionError("Metadata response for another request")
    return int(brokers)


def answers(host: str, port: int, *, timeout: float = 1.0) -> bool:
    """True when a broker at host:port answers a Metadata request."""
    try:
        return broker_count(host, port, timeout=timeout) > 0
    except OSError:
        return False
