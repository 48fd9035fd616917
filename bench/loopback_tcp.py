#!/usr/bin/env python3
"""Raw loopback TCP throughput, one stream: a forked sender pushes N bytes to
a receiver on 127.0.0.1; prints the receiver's rate in MB/s (10^6 bytes/s).

Usage: loopback_tcp.py [BYTES]   (default 4 GiB)

A yardstick for bench/run.sh: no TLS, no disk, plain send/recv
copies through the kernel (no sendfile), 1 MiB application buffers.
"""
import os
import socket
import sys
import time

CHUNK = 1 << 20


def sender(port: int, total: int) -> None:
    s = socket.create_connection(("127.0.0.1", port))
    buf = memoryview(bytes(CHUNK))
    left = total
    while left:
        n = min(left, CHUNK)
        s.sendall(buf[:n])
        left -= n
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # wait for the receiver to close
    s.close()


def main() -> int:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 4 << 30
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        srv.close()
        try:
            sender(port, total)
        finally:
            os._exit(0)
    t0 = time.perf_counter()
    conn, _ = srv.accept()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    got = 0
    while True:
        n = conn.recv_into(view)
        if not n:
            break
        got += n
    t1 = time.perf_counter()
    conn.close()
    srv.close()
    os.waitpid(pid, 0)
    if got != total:
        print(f"loopback_tcp: received {got} of {total} bytes", file=sys.stderr)
        return 1
    print(f"{got / (t1 - t0) / 1e6:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
