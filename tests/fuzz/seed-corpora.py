#!/usr/bin/env python3
"""Seeds each fuzz target's corpus from the committed golden vectors (FORMAT.md's pins), so
fuzzing starts from valid inputs of every format. Writes tests/fuzz/corpus/<target>/seed-*."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def vectors(path):
    out = {}
    for line in open(os.path.join(ROOT, path), encoding="utf-8"):
        if line.startswith("#") or ": " not in line:
            continue
        key, value = line.rstrip("\n").split(": ", 1)
        out[key] = value
    return out


def unescape(text):
    return text.replace("\\u{2014}", "\u2014").replace("\\n", "\n").encode()


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    name = "".join(c if c.isalnum() else "_" for c in name)
    with open(os.path.join(directory, f"seed-{name}"), "wb") as f:
        f.write(data)


def main():
    ledger = vectors("services/ledger/tests/golden/vectors.txt")
    for key, value in ledger.items():
        if key.endswith(".envelope"):
            write("envelope", key, bytes.fromhex(value))
        elif key.startswith(("checkpoint[", "cosigned_checkpoint[")):
            write("checkpoint_note", key, unescape(value))
        elif key.startswith("bundle["):
            write("proof_bundle", key, unescape(value))
        elif key.startswith("tile_path["):
            write("tiles", key, value.encode())
        elif key.startswith("add_checkpoint["):
            write("tiles", key, unescape(value))
        elif key.startswith("tile["):
            write("tiles", key, bytes([5]) + bytes.fromhex(value))
        elif key == "witness_verifier_key" or key == "log_verifier_key":
            write("checkpoint_note", key, value.encode())
    write("export_file", "fixture", open(os.path.join(ROOT, "tests/tests/golden/fixture.export"), "rb").read())
    for index, text in enumerate(["Transport: what the evidence says", "Line one\nLine two\tand a tab",
                                  "Caf\u00e9 \u6771\u4eac \U0001f68c", "a\u0000b", "crlf\r\n", "c1\u0085", "\ufffe"]):
        write("recorded_text", f"{index}", text.encode("utf-8"))
    catalogue = [key for key in vectors("tests/tests/golden/payloads.txt") if key.startswith("payload[")]
    for index, key in enumerate(catalogue):
        payload = bytes.fromhex(vectors("tests/tests/golden/payloads.txt")[key])
        write("payload", f"{index}", bytes([index]) + payload)
    pools = os.path.join(os.path.dirname(ROOT), "shared", "data", "sortition")
    for pool in sorted(os.listdir(pools)) if os.path.isdir(pools) else []:
        if not os.path.isdir(os.path.join(pools, pool)):
            continue
        features = open(os.path.join(pools, pool, "features.csv"), "rb").read()
        people = open(os.path.join(pools, pool, "people.csv"), "rb").read()
        write("sortition_csv", pool, bytes([22]) + features + b"\0" + people)
    for target in ("grpc_requests", "signature_batch_vs_single", "merkle_vs_naive", "sortition_csv"):
        os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    print(f"seeded {sum(len(files) for _, _, files in os.walk(CORPUS))} files under {CORPUS}")


if __name__ == "__main__":
    sys.exit(main())
