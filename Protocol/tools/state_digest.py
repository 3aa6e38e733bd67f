#!/usr/bin/env python3
"""Reference computation of the Tianzhang state digest (Protocol/SPEC.md §12), independent of the Swift code.

Usage:
  state_digest.py FILE          FILE is {"records": [RECORD, ...]} or a vector of Protocol/vectors/digest/
                                ({"cases": [{"name", "records", "digest"?, "hashed"?}, ...]}).
  RECORD is {"key": "<type>/<id>", "materialized": {...}, "conflicts": [CONFLICT, ...]}; a conflict is the
  object of CONFLICTS.md "Conflict records". For a vector, every case's digest (and hashed text, if given) is
  checked; the exit status is 1 on any mismatch. Without "digest" the digest is printed.

Python 3.8+, standard library only.
"""
import decimal
import hashlib
import json
import sys

TWO_53 = 2 ** 53


def canonical_number(value):
    """A JSON number as the canonical form writes it. Every number is an IEEE 754 double first (receivers
    decode every JSON number as a double): integral values of magnitude below 2^53 as integers; all others in
    the shortest round-trip form (the digits Python's repr and Swift's description both choose), decimal
    notation for decimal exponents -4 up to magnitude 2^53, exponential (1e-05, 1.5e+300) otherwise."""
    x = float(value)
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError("not a JSON number: %r" % value)
    if x == int(x) and abs(x) < TWO_53:
        return str(int(x))  # -0.0 is written 0
    sign, digits, exponent = decimal.Decimal(repr(x)).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:  # repr may carry trailing zeros ("1e+16" has none, "100.0" has)
        digits.pop()
        exponent += 1
    text = "".join(map(str, digits))
    e = exponent + len(digits) - 1  # value = d.ddd × 10^e
    if e < -4 or abs(x) > TWO_53:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        out = "%se%s%02d" % (mantissa, "-" if e < 0 else "+", abs(e))
    elif e < 0:
        out = "0." + "0" * (-e - 1) + text
    elif e + 1 < len(text):
        out = text[: e + 1] + "." + text[e + 1 :]
    else:
        out = text + "0" * (e + 1 - len(text))  # integral: the ".0" Swift writes is dropped
    return ("-" if sign else "") + out


SHORT = {0x22: b'\\"', 0x5C: b"\\\\", 0x08: b"\\b", 0x0C: b"\\f", 0x0A: b"\\n", 0x0D: b"\\r", 0x09: b"\\t"}


def canonical_string(text):
    out = bytearray(b'"')
    for byte in text.encode("utf-8"):
        if byte in SHORT:
            out += SHORT[byte]
        elif byte < 0x20:
            out += b"\\u00%02x" % byte
        else:
            out.append(byte)  # "/", DEL and every non-ASCII character are written as they are (UTF-8)
    out += b'"'
    return bytes(out)


def canonical(value):
    """The canonical JSON bytes of a value (SPEC §12.1)."""
    if value is None:
        return b"null"
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    if isinstance(value, (int, float)):
        return canonical_number(value).encode("ascii")
    if isinstance(value, str):
        return canonical_string(value)
    if isinstance(value, list):
        return b"[" + b",".join(canonical(item) for item in value) + b"]"
    if isinstance(value, dict):
        keys = sorted(value)  # by code point (= by UTF-8 bytes)
        return b"{" + b",".join(canonical_string(k) + b":" + canonical(value[k]) for k in keys) + b"}"
    raise TypeError("not a JSON value: %r" % (value,))


def hashed_bytes(records):
    """The bytes the digest hashes: per record, in (type, id) order, key NUL materialized NUL conflicts LF."""
    def order(record):
        kind, _, ident = record["key"].partition("/")
        return (kind.encode("utf-8"), ident.encode("utf-8"))
    out = bytearray()
    for record in sorted(records, key=order):
        out += record["key"].encode("utf-8") + b"\x00"
        out += canonical(record["materialized"]) + b"\x00"
        out += canonical(record.get("conflicts", [])) + b"\n"
    return bytes(out)


def digest(records):
    return hashlib.sha256(hashed_bytes(records)).hexdigest()


def main(path):
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if "records" in document:
        print(digest(document["records"]))
        return 0
    failures = 0
    for case in document["cases"]:
        got = digest(case["records"])
        if "hashed" in case and hashed_bytes(case["records"]).decode("utf-8") != case["hashed"]:
            print("%s: hashed text differs" % case["name"])
            failures += 1
        if "digest" not in case:
            print("%s %s" % (got, case["name"]))
        elif got != case["digest"]:
            print("%s: digest %s, expected %s" % (case["name"], got, case["digest"]))
            failures += 1
        else:
            print("%s ok %s" % (case["name"], got))
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
