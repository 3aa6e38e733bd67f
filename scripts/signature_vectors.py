#!/usr/bin/env python3
"""Writes Protocol/vectors/signatures/*.json from Protocol/SPEC.md §2.7 alone, with Python's
`cryptography` (an implementation independent of the Swift code): the tests load these files, so the
Swift side must agree with this one byte for byte. Run: python3 scripts/signature_vectors.py"""
import base64, hashlib, hmac, json, os
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ROOT = os.path.join(os.path.dirname(__file__), "..", "Protocol", "vectors", "signatures")

def hkdf_sha256(ikm, salt, info, length=32):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]

def key_of(credential):
    seed = hkdf_sha256(credential.encode(), b"tianzhang change signing", b"ed25519 seed v1")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return seed, key, public.hex()

def canonical(change):
    unsigned = {k: v for k, v in change.items() if k != "sig"}
    if "base" in unsigned:
        unsigned["base"] = sorted(unsigned["base"])
        if not unsigned["base"]:
            del unsigned["base"]
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

def signed(change, key):
    change = dict(change)
    change["sig"] = base64.b64encode(key.sign(canonical(change))).decode()
    return change

HUB = "f" * 64
device = "tz_" + "1" * 64 + "." + HUB
device_again = "tz_" + "2" * 64 + "." + HUB   # the same device, re-enrolled
relay = "tz_" + "3" * 64 + "." + HUB
checkin = {
    "origin": "patrol:chief-371312001201", "seq": 3, "type": "checkin", "record": "01JD0000000000000000000007",
    "scope": "371312001201", "hlc": "1763884800000-0", "author": "chief-371312001201",
    "ops": {"observation": {"set": "麦苗长势正常"}, "parcelID": {"set": "371312001201-0002"},
            "village": {"set": "371312001201"}, "at": {"set": 1763884800000},
            "location": {"set": {"latitude": 34.9655, "longitude": 118.2365}}},
}
vectors = []
_, device_key, device_public = key_of(device)
_, again_key, again_public = key_of(device_again)
_, relay_key, relay_public = key_of(relay)
good = signed(checkin, device_key)
vectors.append(("valid", "the device's own signature verifies under its enrolled key", device, good, [device_public], True))
forged = signed(dict(checkin, ops=dict(checkin["ops"], observation={"set": "一切正常"})), relay_key)
vectors.append(("forged-by-relay", "a relay re-signed the device's change with its own key after altering it: refused", relay, forged, [device_public], False))
altered = dict(good, ops=dict(good["ops"], observation={"set": "一切正常"}))
vectors.append(("altered", "the device's signature over other content: refused", device, altered, [device_public], False))
rekeyed_old = signed(dict(checkin, seq=4), device_key)
vectors.append(("rekeyed-old-key", "a change signed before the device was re-enrolled still verifies: the county keeps every key it issued", device, rekeyed_old, [device_public, again_public], True))
rekeyed_new = signed(dict(checkin, seq=5, base=["node:371312001/9", "hub:371312/2"]), again_key)
vectors.append(("rekeyed-new-key", "after re-enrolment the device signs with the new credential's key (base sorted in the signed bytes)", device_again, rekeyed_new, [device_public, again_public], True))
vectors.append(("rekeyed-not-yet-known", "a key the receiver has not learnt yet does not verify", device_again, rekeyed_new, [device_public], False))

os.makedirs(ROOT, exist_ok=True)
for name, description, credential, change, keys, valid in vectors:
    seed, _, public = key_of(credential)
    body = {"name": name, "description": description, "credential": credential, "seed": seed.hex(), "publicKey": public,
            "change": change, "signedBytes": canonical(change).decode(), "keys": keys, "valid": valid}
    with open(os.path.join(ROOT, name + ".json"), "w") as f:
        json.dump(body, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
print(f"wrote {len(vectors)} vectors to {os.path.normpath(ROOT)}")
