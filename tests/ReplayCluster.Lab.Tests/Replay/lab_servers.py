#!/usr/bin/env python3
"""Small servers the replay tests run on the online host and on the target, so both sides record
what they received in the same way.

  upload ADDR PORT LOG   HTTP/1.1: every request's body is read in full and "<path> <size> <sha256>"
                         is appended to LOG; answers 200 "ok" and closes.
  banner ADDR PORT LOG   a server-first line protocol: sends "220 ready", then appends every line it
                         receives to LOG and answers "250 ok <line>"; "QUIT" answers "221 bye" and closes.
"""
import hashlib
import socketserver
import sys
import threading

LOCK = threading.Lock()


def log(path, line):
    with LOCK, open(path, "a", encoding="ascii") as f:
        f.write(line + "\n")
        f.flush()


class Upload(socketserver.StreamRequestHandler):
    def handle(self):
        request_line = self.rfile.readline().decode("ascii", "replace").strip()
        length = 0
        while True:
            header = self.rfile.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("ascii", "replace").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        digest = hashlib.sha256()
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
        path = request_line.split(" ")[1] if " " in request_line else "?"
        log(self.server.log, f"{path} {length - remaining} {digest.hexdigest()}")
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


class Banner(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 ready\r\n")
        for raw in self.rfile:
            line = raw.decode("ascii", "replace").strip()
            log(self.server.log, line)
            if line == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            self.wfile.write(f"250 ok {line}\r\n".encode("ascii"))


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    kind, address, port, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    server = Server((address, port), {"upload": Upload, "banner": Banner}[kind])
    server.log = path
    print(f"listening {kind} {address}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
