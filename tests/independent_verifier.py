#!/usr/bin/env python3
"""An independent verifier of Kleroterion's golden vectors, written from docs/FORMAT.md alone.

It shares no code with the Rust implementation and uses only the Python standard library
(Ed25519 verification included, from RFC 8032 section 5.1.7). It checks every envelope, signature,
event hash, stream chain, Merkle root, inclusion proof, consistency proof, checkpoint and
proof bundle in the vector file, and exits non-zero on the first disagreement.

Usage: python3 tests/independent_verifier.py services/ledger/tests/golden/vectors.txt
"""

import base64
import hashlib
import sys


def sha256(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


# --- Ed25519 verification (RFC 8032 section 5.1.7; FORMAT.md 2.2 and 4) -------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(a, b):
    (x1, y1, z1, t1), (x2, y2, z2, t2) = a, b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def scalar_mult(scalar, point):
    result = (0, 1, 1, 0)
    while scalar > 0:
        if scalar & 1:
            result = point_add(result, point)
        point = point_add(point, point)
        scalar >>= 1
    return result


def point_equal(a, b):
    (x1, y1, z1, _), (x2, y2, z2, _) = a, b
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def decompress(encoded):
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


BASE_Y = 4 * pow(5, P - 2, P) % P
BASE = decompress(BASE_Y.to_bytes(32, "little"))


IDENTITY = (0, 1, 1, 0)


def is_small_order(point):
    return point_equal(scalar_mult(8, point), IDENTITY)


def negate(point):
    x, y, z, t = point
    return (-x % P, y, z, -t % P)


def ed25519_parts(public_key, message, signature):
    """The checks both rules share; returns (A, R, S, k) or None."""
    if len(signature) != 64:
        return None
    a = decompress(public_key)
    r = decompress(signature[:32])
    if a is None or r is None or is_small_order(a) or is_small_order(r):
        return None
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return None
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    return a, r, s, k


def author_signature_valid(public_key, message, signature):
    """FORMAT.md 2.2: canonical A and R, neither of small order, S < L, [8][S]B = [8]R + [8][k]A."""
    parts = ed25519_parts(public_key, message, signature)
    if parts is None:
        return False
    a, r, s, k = parts
    difference = point_add(scalar_mult(s, BASE), negate(point_add(r, scalar_mult(k, a))))
    return point_equal(scalar_mult(8, difference), IDENTITY)


def note_signature_valid(public_key, message, signature):
    """FORMAT.md 4: checkpoint signatures use the cofactorless equation [S]B = R + [k]A."""
    parts = ed25519_parts(public_key, message, signature)
    if parts is None:
        return False
    a, r, s, k = parts
    return point_equal(scalar_mult(s, BASE), point_add(r, scalar_mult(k, a)))


# --- Envelopes (FORMAT.md section 2) ------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data, self.offset = data, 0

    def take(self, n):
        if self.offset + n > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.offset:self.offset + n]
        self.offset += n
        return chunk

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def done(self):
        if self.offset != len(self.data):
            raise ValueError("trailing bytes")


def parse_author(encoding):
    r = Reader(encoding)
    author = {
        "event_id": r.take(16),
        "stream": r.take(r.uint(2)).decode("ascii"),
        "event_type": r.take(r.uint(2)).decode("ascii"),
        "event_version": r.uint(4),
        "author_public_key": r.take(32),
        "authored_at_unix_ms": r.uint(8),
    }
    author["payload"] = r.take(r.uint(4))
    r.done()
    return author


def parse_envelope(envelope):
    r = Reader(envelope)
    if r.uint(1) != 1:
        raise ValueError("unknown envelope format version")
    author_encoding = r.take(r.uint(4))
    parsed = {
        "author_encoding": author_encoding,
        "author": parse_author(author_encoding),
        "signature": r.take(64),
        "stream_revision": r.uint(8),
        "previous_event_hash": r.take(32),
        "recorded_at_unix_ms": r.uint(8),
    }
    r.done()
    if parsed["stream_revision"] == 0 and parsed["previous_event_hash"] != bytes(32):
        raise ValueError("revision 0 must have a zero previous hash")
    return parsed


def signing_input(author_encoding):
    return b"KLERO-EVENT-AUTHOR-V1\x00" + author_encoding


def event_hash(envelope):
    return sha256(b"KLERO-EVENT-HASH-V1\x00", envelope)


# --- Merkle log (FORMAT.md section 3; RFC 9162) -------------------------------------------

def leaf_hash(entry):
    return sha256(b"\x00", entry)


def node_hash(left, right):
    return sha256(b"\x01", left, right)


def mth(leaves):
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = ([first_root] if first & (first - 1) == 0 else []) + list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# --- Checkpoints and bundles (FORMAT.md sections 4 and 5) ---------------------------------

def parse_vkey(text):
    name, key_hash_hex, blob = text.split("+", 2)
    blob = base64.b64decode(blob)
    assert blob[0] == 1 and len(blob) == 33, "verifier key must be Ed25519"
    public_key = blob[1:]
    key_hash = sha256(name.encode(), b"\n\x01", public_key)[:4]
    assert key_hash.hex() == key_hash_hex, "verifier key hash"
    return name, key_hash, public_key


def verify_checkpoint(note, vkey):
    name, key_hash, public_key = vkey
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    origin, size, root = text[:-1].split("\n")
    assert origin == name, "checkpoint origin is the key name"
    assert size == str(int(size)), "tree size has no leading zeros"
    ok = False
    for line in signatures[:-1].split("\n"):
        assert line.startswith("\u2014 "), "signature line starts with an em dash"
        line_name, blob = line[2:].split(" ")
        blob = base64.b64decode(blob)
        if line_name == name and blob[:4] == key_hash:
            assert note_signature_valid(public_key, text.encode(), blob[4:]), "checkpoint signature"
            ok = True
    assert ok, "no signature by the log key"
    return int(size), base64.b64decode(root)


def verify_bundle(text, vkey):
    head, note = text.split("\ncheckpoint\n", 1)
    lines = head.split("\n")
    assert lines[0] == "klero-proof-bundle/v1"
    index = int(lines[1].removeprefix("leaf-index "))
    envelope = base64.b64decode(lines[2].removeprefix("envelope "))
    proof = [base64.b64decode(line.removeprefix("inclusion ")) for line in lines[3:]]
    size, root = verify_checkpoint(note, vkey)
    parsed = parse_envelope(envelope)
    author = parsed["author"]
    assert author_signature_valid(author["author_public_key"], signing_input(parsed["author_encoding"]), parsed["signature"])
    assert verify_inclusion(index, size, leaf_hash(event_hash(envelope)), proof, root), "bundle inclusion"
    return index


# --- Tiles, bundles, cosignatures, add-checkpoint (FORMAT.md sections 12 and 13) ----------

def index_path(n):
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n > 0:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(kind, index, width):
    prefix = {"entries": "tile/entries/", "envelopes": "klero/envelopes/"}.get(kind)
    if prefix is None:
        prefix = f"tile/{int(kind.removeprefix('level '))}/"
    return prefix + index_path(index) + ("" if width == 256 else f".p/{width}")


def parse_witness_vkey(text):
    name, key_id_hex, blob = text.split("+", 2)
    blob = base64.b64decode(blob)
    assert blob[0] == 4 and len(blob) == 33, "a witness key is Ed25519 cosignature/v1 (0x04)"
    key_id = sha256(name.encode(), b"\n\x04", blob[1:])[:4]
    assert key_id.hex() == key_id_hex, "witness key ID"
    return name, key_id, blob[1:]


def verify_cosignature(note, witness):
    name, key_id, public_key = witness
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    for line in signatures[:-1].split("\n"):
        line_name, blob = line[2:].split(" ")
        blob = base64.b64decode(blob)
        if line_name == name and blob[:4] == key_id and len(blob) == 76:
            timestamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
            assert note_signature_valid(public_key, message, blob[12:]), "cosignature"
            return timestamp
    raise AssertionError("no cosignature by the witness")


def check_transparency(vectors, leaves, envelopes, roots, vkey):
    checks = 0
    note = vectors["cosigned_checkpoint[5]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    verify_checkpoint(note, vkey)
    witness = parse_witness_vkey(vectors["witness_verifier_key"])
    assert verify_cosignature(note, witness) == int(vectors["cosignature_timestamp"])
    forged = note.replace("\n5\n", "\n6\n", 1)
    try:
        verify_cosignature(forged, witness)
        raise RuntimeError("a cosignature verified on another checkpoint")
    except AssertionError:
        pass
    checks += 2
    for key, value in vectors.items():
        if key.startswith("tile_path["):
            kind, index, width = key[len("tile_path["):-1].split(",")
            assert tile_path(kind, int(index), int(width)) == value, key
            checks += 1
    assert vectors["tile[tile/0/000.p/5]"] == b"".join(leaves).hex()
    entries = b"".join(len(event_hash(e)).to_bytes(2, "big") + event_hash(e) for e in envelopes)
    assert vectors["tile[tile/entries/000.p/5]"] == entries.hex()
    bundle = b"".join(len(e).to_bytes(4, "big") + e for e in envelopes)
    assert vectors["tile[klero/envelopes/000.p/5]"] == bundle.hex()
    checks += 3
    body = vectors["add_checkpoint[3,5]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    head, checkpoint_note = body.split("\n\n", 1)
    lines = head.split("\n")
    old = int(lines[0].removeprefix("old "))
    proof = [base64.b64decode(line) for line in lines[1:]]
    size, root = verify_checkpoint(checkpoint_note, vkey)
    assert verify_consistency(old, size, roots[old], root, proof), "add-checkpoint proof"
    checks += 1
    return checks


def main(path):
    vectors = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        key, value = line.rstrip("\n").split(": ", 1)
        vectors[key] = value

    vkey = parse_vkey(vectors["log_verifier_key"])
    checks = 0
    heads = {}
    leaves = []
    envelopes = []
    index = 0
    while f"event[{index}].envelope" in vectors:
        envelope = bytes.fromhex(vectors[f"event[{index}].envelope"])
        parsed = parse_envelope(envelope)
        author = parsed["author"]
        assert parsed["author_encoding"].hex() == vectors[f"event[{index}].author_encoding"]
        assert sha256(signing_input(parsed["author_encoding"])).hex() == vectors[f"event[{index}].signing_input_sha256"]
        assert parsed["signature"].hex() == vectors[f"event[{index}].signature"]
        assert author_signature_valid(author["author_public_key"], signing_input(parsed["author_encoding"]), parsed["signature"]), \
            f"event {index} signature"
        tampered = bytearray(parsed["author_encoding"])
        tampered[-1] ^= 1
        assert not author_signature_valid(author["author_public_key"], signing_input(bytes(tampered)), parsed["signature"])
        digest = event_hash(envelope)
        assert digest.hex() == vectors[f"event[{index}].event_hash"], f"event {index} hash"
        assert leaf_hash(digest).hex() == vectors[f"event[{index}].leaf_hash"]
        revision, previous = heads.get(author["stream"], (0, bytes(32)))
        assert parsed["stream_revision"] == revision and parsed["previous_event_hash"] == previous, f"event {index} chain"
        heads[author["stream"]] = (revision + 1, digest)
        leaves.append(leaf_hash(digest))
        envelopes.append(envelope)
        checks += 8
        index += 1

    size = len(leaves)
    roots = [mth(leaves[:n]) for n in range(size + 1)]
    for n in range(size + 1):
        assert roots[n].hex() == vectors[f"root[{n}]"], f"root of size {n}"
        checks += 1
    for i in range(size):
        proof = [bytes.fromhex(h) for h in vectors[f"inclusion[{i},{size}]"].split(",") if h]
        assert verify_inclusion(i, size, leaves[i], proof, roots[size]), f"inclusion {i}"
        assert not verify_inclusion(i, size, leaves[(i + 1) % size], proof, roots[size])
        checks += 2
    for m in range(1, size):
        proof = [bytes.fromhex(h) for h in vectors[f"consistency[{m},{size}]"].split(",") if h]
        assert verify_consistency(m, size, roots[m], roots[size], proof), f"consistency {m}"
        assert not verify_consistency(m, size, roots[m - 1] if m > 1 else b"x" * 32, roots[size], proof)
        checks += 2

    note = vectors[f"checkpoint[{size}]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    checkpoint_size, checkpoint_root = verify_checkpoint(note, vkey)
    assert (checkpoint_size, checkpoint_root) == (size, roots[size]), "checkpoint covers the log"
    checks += 1
    bundle = vectors["bundle[2]"].replace("\\u{2014}", "\u2014").replace("\\n", "\n")
    assert verify_bundle(bundle, vkey) == 2
    checks += 1
    checks += check_transparency(vectors, leaves, envelopes, roots, vkey)
    for key, value in vectors.items():
        if key.startswith("signature_rule["):
            public_key, message, signature, verdict = value.split(" ")
            valid = author_signature_valid(bytes.fromhex(public_key), bytes.fromhex(message), bytes.fromhex(signature))
            assert valid == (verdict == "valid"), f"{key}: the rule says {verdict}"
            checks += 1
    print(f"independent verifier: {checks} checks passed on {size} events")


if __name__ == "__main__":
    main(sys.argv[1])
