#!/usr/bin/env python3
"""An independent check of Kleroterion's sealed personal text, written from docs/FORMAT.md §14.

It shares no code with the Rust implementation and uses only the Python standard library:
XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha, over RFC 8439's ChaCha20 and Poly1305) is written
out here. For every sealed field of the vector file it rebuilds the associated data, decrypts
the ciphertext with the event's data key, splits the salt from the text, and checks the
commitment; it also seals the text again and requires the same ciphertext. It exits non-zero
on the first disagreement.

Usage: python3 tests/independent_sealing.py tests/tests/golden/personal-data-vectors.txt
"""

import hashlib
import hmac
import json
import struct
import sys

SEALED_TEXT_DOMAIN = b"klero/sealed-text/v1\x00"
COMMITMENT_DOMAIN = b"klero/personal-text-commitment/v1\x00"
MASK32 = 0xFFFFFFFF


def rotl(value, count):
    return ((value << count) & MASK32) | (value >> (32 - count))


def quarter_round(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & MASK32
    s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & MASK32
    s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & MASK32
    s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & MASK32
    s[b] = rotl(s[b] ^ s[c], 7)


def rounds(state):
    s = list(state)
    for _ in range(10):
        quarter_round(s, 0, 4, 8, 12)
        quarter_round(s, 1, 5, 9, 13)
        quarter_round(s, 2, 6, 10, 14)
        quarter_round(s, 3, 7, 11, 15)
        quarter_round(s, 0, 5, 10, 15)
        quarter_round(s, 1, 6, 11, 12)
        quarter_round(s, 2, 7, 8, 13)
        quarter_round(s, 3, 4, 9, 14)
    return s


CONSTANTS = list(struct.unpack("<4I", b"expand 32-byte k"))


def chacha20_block(key, counter, nonce12):
    state = CONSTANTS + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce12))
    mixed = rounds(state)
    return struct.pack("<16I", *[(x + y) & MASK32 for x, y in zip(mixed, state)])


def hchacha20(key, nonce16):
    state = CONSTANTS + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    s = rounds(state)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def chacha20_xor(key, counter, nonce12, data):
    out = bytearray()
    for block in range(0, len(data), 64):
        stream = chacha20_block(key, counter + block // 64, nonce12)
        out += bytes(x ^ y for x, y in zip(data[block:block + 64], stream))
    return bytes(out)


def poly1305(key, message):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(message), 16):
        chunk = message[i:i + 16] + b"\x01"
        acc = (acc + int.from_bytes(chunk, "little")) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def pad16(data):
    return b"\x00" * (-len(data) % 16)


def xchacha20poly1305(key, nonce24, aad, data, decrypt):
    subkey = hchacha20(key, nonce24[:16])
    nonce12 = b"\x00\x00\x00\x00" + nonce24[16:]
    one_time_key = chacha20_block(subkey, 0, nonce12)[:32]
    if decrypt:
        ciphertext, tag = data[:-16], data[-16:]
    else:
        ciphertext = chacha20_xor(subkey, 1, nonce12, data)
    mac_data = aad + pad16(aad) + ciphertext + pad16(ciphertext) + struct.pack("<QQ", len(aad), len(ciphertext))
    computed = poly1305(one_time_key, mac_data)
    if decrypt:
        if not hmac.compare_digest(computed, tag):
            raise ValueError("the tag does not verify")
        return chacha20_xor(subkey, 1, nonce12, ciphertext)
    return ciphertext + computed


def check_field(prefix, values, key, event_id):
    def get(name):
        return values[f"{prefix}.{name}"]

    field = prefix.split(".", 1)[1]
    aad = SEALED_TEXT_DOMAIN + event_id + field.encode()
    if aad.hex() != get("associated_data"):
        raise ValueError(f"{prefix}: associated data differs")
    nonce, ciphertext = bytes.fromhex(get("nonce")), bytes.fromhex(get("ciphertext"))
    plaintext = xchacha20poly1305(key, nonce, aad, ciphertext, decrypt=True)
    salt, text = plaintext[:32], plaintext[32:].decode("utf-8")
    if salt.hex() != get("salt") or text != json.loads(get("text")):
        raise ValueError(f"{prefix}: the opened salt or text differs from the vector")
    if hashlib.sha256(COMMITMENT_DOMAIN + salt + text.encode()).hexdigest() != get("commitment"):
        raise ValueError(f"{prefix}: the commitment does not match")
    if xchacha20poly1305(key, nonce, aad, salt + text.encode(), decrypt=False) != ciphertext:
        raise ValueError(f"{prefix}: sealing again gives another ciphertext")


def event_id_of(envelope):
    # FORMAT.md §2.3: an envelope is 0x01 || u32 length || author encoding || ...; the author
    # encoding (§2.1) starts with the 16-byte event id.
    if envelope[0] != 1:
        raise ValueError("not an envelope of format version 1")
    (length,) = struct.unpack(">I", envelope[1:5])
    if length < 16:
        raise ValueError("envelope too short")
    return envelope[5:21]


def author_key_of(envelope):
    # FORMAT.md §2.1: the author encoding is event id (16) || stream (u16 length, bytes)
    # || event type (u16 length, bytes) || version (u32) || author key (32) || ...
    at = 5 + 16
    for _ in range(2):
        (length,) = struct.unpack(">H", envelope[at:at + 2])
        at += 2 + length
    at += 4
    return envelope[at:at + 32]


def main(path):
    values = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        key, _, value = line.rstrip("\n").partition(": ")
        values[key] = value
    opened = 0
    events = sorted({k.split(".")[0] for k in values if k.startswith("event[") and k.endswith(".data_key")})
    for event in events:
        key = bytes.fromhex(values[f"{event}.data_key"])
        event_id = event_id_of(bytes.fromhex(values[f"{event}.envelope"]))
        fields = sorted({k.rsplit(".", 1)[0] for k in values if k.startswith(event + ".sealed_")})
        for prefix in fields:
            check_field(prefix, values, key, event_id)
            opened += 1
    if opened == 0:
        raise SystemExit("no sealed field in the vectors")
    # FORMAT.md §14.6: each proof of work, rebuilt from the envelope and the sealed text's
    # commitment, and its zero bits counted.
    works = 0
    for event in sorted({k.split(".")[0] for k in values if k.endswith(".work.hash")}):
        envelope = bytes.fromhex(values[f"{event}.envelope"])
        author_key = author_key_of(envelope)
        nonce = int(values[f"{event}.work.nonce"])
        commitment = bytes.fromhex(values[f"{event}.sealed_text.commitment"])
        data = bytes.fromhex(values[f"{event}.work.input"])
        expected_prefix = b"klero-work/v1\x00"
        if not data.startswith(expected_prefix):
            raise ValueError(f"{event}: the work input does not start with the domain")
        call = data[len(expected_prefix):].split(b"\x00", 1)[0]
        rebuilt = expected_prefix + call + b"\x00" + author_key + commitment + struct.pack(">Q", nonce)
        if rebuilt != data:
            raise ValueError(f"{event}: the work input is not §14.6's")
        digest = hashlib.sha256(rebuilt).digest()
        if digest.hex() != values[f"{event}.work.hash"]:
            raise ValueError(f"{event}: the work hash does not match")
        bits = 0
        for byte in digest:
            if byte == 0:
                bits += 8
                continue
            bits += 8 - byte.bit_length()
            break
        if bits != int(values[f"{event}.work.bits"]):
            raise ValueError(f"{event}: {bits} zero bits, not {values[f'{event}.work.bits']}")
        works += 1
    print(f"{opened} sealed fields opened, their commitments checked, and sealed again to the same bytes; "
          f"{works} proofs of work checked")


if __name__ == "__main__":
    main(sys.argv[1])
