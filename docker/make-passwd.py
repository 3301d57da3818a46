#!/usr/bin/env python3
"""Write docker/passwd: the Mosquitto password file for the test user.

Entries use the "$6$" format, understood by Mosquitto 1.6, 2.0 and 2.1:

    user:$6$<base64 salt>$<base64 sha512(password bytes + salt bytes)>

(2.x's mosquitto_passwd writes "$7$" PBKDF2 entries by default, which 1.6
cannot read.)  The credentials are for tests only.

Usage: python3 docker/make-passwd.py [--salt-hex HEX] [OUTPUT]
The default salt is fixed, so the output is reproducible byte for byte.
"""
import argparse
import base64
import hashlib
import os
import sys

USER = "matrix"
PASSWORD = "matrix-test-only"
# 12 fixed bytes (Mosquitto itself uses 12 random bytes); fixed so that
# re-running this script reproduces the committed file exactly.
DEFAULT_SALT = bytes.fromhex("6d6f73717569747465720001")


def entry(user: str, password: str, salt: bytes) -> str:
    digest = hashlib.sha512(password.encode("utf-8") + salt).digest()
    return "%s:$6$%s$%s" % (
        user,
        base64.b64encode(salt).decode("ascii"),
        base64.b64encode(digest).decode("ascii"),
    )


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", nargs="?", default=os.path.join(here, "passwd"))
    ap.add_argument("--salt-hex", default=DEFAULT_SALT.hex())
    args = ap.parse_args()
    # No comment lines: Mosquitto 1.6 may not skip them. The credentials are
    # test-only; README.md and matrix.toml say so.
    text = entry(USER, PASSWORD, bytes.fromhex(args.salt_hex)) + "\n"
    with open(args.output, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    print("wrote %s" % args.output, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
