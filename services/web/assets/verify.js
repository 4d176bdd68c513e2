// Kleroterion: checks a public page against the signed log, in the visitor's browser, with no
// trust in the server that sent it. No third-party code: WebCrypto gives SHA-256 and Ed25519;
// everything else (the envelope, protobuf, checkpoints, Merkle proofs) is parsed here from
// docs/FORMAT.md. What this checks, and what it does not, is written on /receipt and in
// docs/API.md ("What a visitor's browser checks").
"use strict";

(() => {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });

  // ---------------------------------------------------------------- bytes
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const fromHex = (text) => {
    if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error(`not lowercase hex: ${text.slice(0, 16)}`);
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  };
  const fromBase64 = (text) => {
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  };
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const normalise = (text) => text.replace(/\r\n?/g, "\n");

  // A reader of big-endian fields (FORMAT.md conventions).
  class Reader {
    constructor(bytes) { this.bytes = bytes; this.at = 0; }
    take(n) {
      if (this.at + n > this.bytes.length) throw new Error("a length runs past the end");
      const out = this.bytes.subarray(this.at, this.at + n);
      this.at += n;
      return out;
    }
    u16() { const b = this.take(2); return (b[0] << 8) | b[1]; }
    u32() { const b = this.take(4); return ((b[0] << 24) >>> 0) + (b[1] << 16) + (b[2] << 8) + b[3]; }
    u64() { const b = this.take(8); let v = 0n; for (const x of b) v = (v << 8n) | BigInt(x); return v; }
  }

  // ---------------------------------------------------------------- envelope (FORMAT.md §2)
  const parseEnvelope = (bytes) => {
    const r = new Reader(bytes);
    if (r.take(1)[0] !== 1) throw new Error("envelope format version is not 1");
    const authorLength = r.u32();
    const authorEncoding = r.take(authorLength);
    const signature = r.take(64);
    const streamRevision = r.u64();
    const previousEventHash = r.take(32);
    const recordedAt = r.u64();
    if (r.at !== bytes.length) throw new Error("trailing bytes after the envelope");
    const a = new Reader(authorEncoding);
    const eventId = a.take(16);
    const stream = decoder.decode(a.take(a.u16()));
    const eventType = decoder.decode(a.take(a.u16()));
    const eventVersion = a.u32();
    const authorKey = a.take(32);
    const authoredAt = a.u64();
    const payload = a.take(a.u32());
    if (a.at !== authorEncoding.length) throw new Error("trailing bytes after the author part");
    return { authorEncoding, signature, streamRevision, previousEventHash, recordedAt, eventId, stream, eventType,
      eventVersion, authorKey, authoredAt, payload };
  };
  const eventHashOf = (envelopeBytes) =>
    sha256(concat(encoder.encode("KLERO-EVENT-HASH-V1"), new Uint8Array([0]), envelopeBytes));

  // ---------------------------------------------------------------- Ed25519
  // WebCrypto's Ed25519 is RFC 8032's cofactorless check. The ledger's rule (FORMAT.md §2.2)
  // also refuses non-canonical and small-order keys and R values, which the cofactorless check
  // lets through; so those are refused here first. Any signature that then passes the
  // cofactorless equation passes the ledger's cofactored one too, so this browser never
  // accepts a signature the ledger rejects (tests/tests/pages checks it with the golden
  // signature-rule vectors). It may refuse a crafted one the ledger accepts (an R with a
  // torsion component), which only the key holder can make.
  const P = (1n << 255n) - 19n;
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  const littleEndian = (bytes) => { let v = 0n; for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]); return v; };
  // The canonical encodings of the eight points of small order, and the two encodings of
  // x = 0 with the sign bit set, which RFC 8032 decoding refuses.
  const SMALL_ORDER = new Set([
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  ]);
  const pointAcceptable = (encoding) => {
    const y = littleEndian(encoding) & ((1n << 255n) - 1n);
    return y < P && !SMALL_ORDER.has(hex(encoding));
  };
  const ed25519Verify = async (publicKey, message, signature) => {
    try {
      const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
      return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
    } catch (_) {
      return false;
    }
  };
  // The ledger's author-signature rule, as far as a browser can check it.
  const ledgerSignatureCheck = async (publicKey, message, signature) => {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    if (!pointAcceptable(publicKey) || !pointAcceptable(signature.subarray(0, 32))) return false;
    if (littleEndian(signature.subarray(32)) >= L) return false;
    return ed25519Verify(publicKey, message, signature);
  };
  const AUTHOR_CONTEXT = concat(encoder.encode("KLERO-EVENT-AUTHOR-V1"), new Uint8Array([0]));

  // ---------------------------------------------------------------- checkpoints (§4)
  const parseVerifierKey = async (vkey) => {
    const first = vkey.indexOf("+");
    const second = vkey.indexOf("+", first + 1);
    if (first <= 0 || second < 0) throw new Error("the log key is not name+hash+key");
    const name = vkey.slice(0, first);
    const keyHash = vkey.slice(first + 1, second);
    const raw = fromBase64(vkey.slice(second + 1));
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("the log key is not an Ed25519 key");
    const publicKey = raw.subarray(1);
    const expected = (await sha256(concat(encoder.encode(name), new Uint8Array([0x0a, 0x01]), publicKey))).subarray(0, 4);
    if (hex(expected) !== keyHash) throw new Error("the log key's hash does not match its key");
    return { name, keyHash: expected, publicKey };
  };
  const verifyCheckpoint = async (note, key) => {
    const split = note.indexOf("\n\n");
    if (split < 0) throw new Error("the checkpoint has no signature block");
    const text = note.slice(0, split + 1);
    const lines = text.split("\n");
    if (lines.length !== 4 || lines[3] !== "") throw new Error("the checkpoint must have exactly three lines");
    const [origin, sizeText, rootText] = lines;
    if (origin !== key.name) throw new Error(`the checkpoint names the log ${origin}, not ${key.name}`);
    if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Error("the checkpoint's size is not a number");
    const root = fromBase64(rootText);
    if (root.length !== 32) throw new Error("the checkpoint's root is not 32 bytes");
    for (const line of note.slice(split + 2).split("\n")) {
      const prefix = `\u2014 ${key.name} `;
      if (!line.startsWith(prefix)) continue;
      const signed = fromBase64(line.slice(prefix.length));
      if (signed.length !== 68 || !equal(signed.subarray(0, 4), key.keyHash)) continue;
      if (await ed25519Verify(key.publicKey, encoder.encode(text), signed.subarray(4))) {
        return { size: BigInt(sizeText), root };
      }
    }
    throw new Error("no signature on the checkpoint verifies with the log key");
  };

  // ---------------------------------------------------------------- Merkle proofs (§3, RFC 9162)
  const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
  const nodeHash = (left, right) => sha256(concat(new Uint8Array([1]), left, right));
  const verifyInclusion = async (index, size, leaf, proof, root) => {
    if (index >= size) return false;
    let fn = index, sn = size - 1n, r = leaf;
    for (const p of proof) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    return sn === 0n && equal(r, root);
  };
  const verifyConsistency = async (oldSize, newSize, oldRoot, newRoot, proof) => {
    if (oldSize > newSize) return false;
    if (oldSize === newSize) return proof.length === 0 && equal(oldRoot, newRoot);
    if (oldSize === 0n) return proof.length === 0;
    let path = proof;
    if ((oldSize & (oldSize - 1n)) === 0n) path = [oldRoot, ...proof];
    if (path.length === 0) return false;
    let fn = oldSize - 1n, sn = newSize - 1n;
    while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0n) return false;
      if ((fn & 1n) === 1n || fn === sn) {
        fr = await nodeHash(c, fr);
        sr = await nodeHash(c, sr);
        if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn >>= 1n; sn >>= 1n;
    }
    return sn === 0n && equal(fr, oldRoot) && equal(sr, newRoot);
  };

  // ---------------------------------------------------------------- protobuf (the catalogue)
  // Fields by number: varints as BigInt, length-delimited as bytes. Nothing else is used by
  // the fields checked here; other wire types are skipped.
  const parseProtobuf = (bytes) => {
    const fields = new Map();
    let at = 0;
    const varint = () => {
      let v = 0n, shift = 0n;
      for (;;) {
        if (at >= bytes.length) throw new Error("a varint runs past the end of the payload");
        const b = bytes[at++];
        v |= BigInt(b & 0x7f) << shift;
        if ((b & 0x80) === 0) return v;
        shift += 7n;
        if (shift > 63n) throw new Error("a varint is too long");
      }
    };
    while (at < bytes.length) {
      const tag = varint();
      const number = Number(tag >> 3n), wire = Number(tag & 7n);
      let value;
      if (wire === 0) value = varint();
      else if (wire === 2) {
        const n = Number(varint());
        if (at + n > bytes.length) throw new Error("a field runs past the end of the payload");
        value = bytes.subarray(at, at + n); at += n;
      } else if (wire === 1) { at += 8; continue; }
      else if (wire === 5) { at += 4; continue; }
      else throw new Error(`unsupported protobuf wire type ${wire}`);
      if (!fields.has(number)) fields.set(number, []);
      fields.get(number).push(value);
    }
    return fields;
  };

  const DECISIONS = ["", "Accepted", "Accepted in part", "Not accepted", "Referred for further study"];
  const STATUSES = ["", "Not started", "In progress", "Completed", "Stalled"];
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December"];
  const dateWords = (iso) => {
    const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(iso);
    return m ? `${Number(m[3])} ${MONTHS[Number(m[2]) - 1]} ${Number(m[1])}` : iso;
  };

  // The fields a page may show, by event type: [protobuf field number, kind]. From the
  // .proto files of the catalogue (proto/klero/**).
  const SCHEMA = {
    "klero.registry.v1.KeyGranted": { public_key: [1, "bytes"], role: [2, "uint"], scope: [3, "string"], holder_title: [4, "string"] },
    "klero.assembly.v1.AssemblyConvened": { assembly_id: [1, "string"], council: [2, "string"], remit_question: [3, "string"],
      area: [4, "string"], starts_on: [5, "date"], ends_on: [6, "date"], panel_size: [7, "uint"],
      adoption_threshold_percent: [8, "uint"], response_deadline_days: [9, "uint"] },
    "klero.selection.v1.SelectionPlanned": { panel_size: [1, "uint"], seed_commitment: [6, "bytes"], pool_commitment: [5, "bytes"] },
    "klero.selection.v1.PanelDrawn": { seed: [1, "bytes"] },
    "klero.selection.v1.ReplacementDrawn": { withdrawn_member_id: [1, "string"], replacement_member_id: [2, "string"] },
    "klero.deliberation.v1.SessionHeld": { session_number: [1, "uint"], held_on: [2, "date"], agenda: [3, "string"], attendance_count: [4, "uint"] },
    "klero.deliberation.v1.EvidencePresented": { session_number: [1, "uint"], speaker_role: [2, "string"], title: [3, "string"],
      content_hash: [4, "bytes"], media_type: [5, "string"] },
    "klero.deliberation.v1.PublicSubmissionReceived": { submitter_id: [1, "string"], content_hash: [2, "bytes"], received_on: [3, "date"] },
    "klero.recommendation.v1.RecommendationDrafted": { recommendation_id: [1, "string"], title: [2, "string"], text_hash: [3, "bytes"] },
    "klero.recommendation.v1.RecommendationAmended": { recommendation_id: [1, "string"], text_hash: [2, "bytes"], reason: [3, "string"] },
    "klero.recommendation.v1.RecommendationAdopted": { recommendation_id: [1, "string"], final_text_hash: [2, "bytes"],
      in_favour: [3, "uint"], against: [4, "uint"], abstaining: [5, "uint"] },
    "klero.recommendation.v1.RecommendationInputsCited": { recommendation_id: [1, "string"], text_hash: [2, "bytes"], citations: [3, "citations"] },
    "klero.recommendation.v1.FinalReportPublished": { content_hash: [1, "bytes"] },
    "klero.response.v1.ResponseIssued": { recommendation_event_hash: [1, "bytes"], decision: [2, "decision"], rationale: [3, "string"],
      responsible_body: [4, "string"], due_on: [5, "date"] },
    "klero.response.v1.ResponseAmended": { recommendation_event_hash: [1, "bytes"], decision: [2, "decision"], rationale: [3, "string"],
      responsible_body: [4, "string"], due_on: [5, "date"], reason: [6, "string"] },
    "klero.response.v1.ImplementationUpdated": { recommendation_event_hash: [1, "bytes"], status: [2, "status"],
      progress_percent: [3, "uint"], note: [4, "string"], evidence_hash: [5, "bytes"] },
    "klero.response.v1.ResponseInputsConsidered": { recommendation_event_hash: [1, "bytes"], citations: [2, "citations"], letter_hash: [3, "bytes"] },
  };
  // The role each stage's events need (klero.registry.v1.Role, docs/RULES.md "Authority").
  const ROLE_OF_PACKAGE = { assembly: 1, selection: 2, deliberation: 3, recommendation: 4, response: 5, privacy: 7 };
  const ROLE_NAMES = ["", "convenor", "selection operator", "facilitator", "panel secretary", "council decision-maker", "auditor",
    "data protection officer"];
  // Sealed personal text (docs/FORMAT.md §14): the field number of each sealed field, by event
  // type. A sealed field is a klero.privacy.v1.SealedText whose field 3 is the commitment.
  const SEALED_FIELDS = {
    "klero.deliberation.v1.EvidencePresented": { sealed_title: 6 },
    "klero.deliberation.v1.PublicSubmissionReceived": { sealed_text: 4 },
    "klero.response.v1.ResponseIssued": { sealed_rationale: 6 },
    "klero.response.v1.ResponseAmended": { sealed_rationale: 7 },
    "klero.response.v1.ImplementationUpdated": { sealed_note: 6 },
  };
  const COMMITMENT_DOMAIN = new TextEncoder().encode("klero/personal-text-commitment/v1\0");
  // The commitment a sealed field of an event signed, hex; throws if it has no such field.
  const sealedCommitment = (event, field) => {
    const number = (SEALED_FIELDS[event.eventType] || {})[field];
    const values = number === undefined ? [] : event.fields.get(number) || [];
    if (values.length === 0) throw new Error(`event ${event.logIndex} (${event.eventType}) has no sealed field ${field}`);
    return hex((parseProtobuf(values[values.length - 1]).get(3) || [new Uint8Array()])[0]);
  };

  // The value of one field, in the form a page shows it.
  const fieldValue = (event, field) => {
    const schema = SCHEMA[event.eventType];
    if (!schema || !schema[field]) throw new Error(`event ${event.logIndex} (${event.eventType}) has no field ${field} that this check knows`);
    const [number, kind] = schema[field];
    const values = event.fields.get(number) || [];
    const last = values[values.length - 1];
    switch (kind) {
      case "string": case "date": return last === undefined ? "" : decoder.decode(last);
      case "bytes": return last === undefined ? "" : hex(last);
      case "uint": return last === undefined ? "0" : last.toString();
      case "decision": return DECISIONS[Number(last ?? 0n)] ?? "Unknown decision";
      case "status": return STATUSES[Number(last ?? 0n)] ?? "Unknown status";
      case "citations": return values.map((v) => {
        const c = parseProtobuf(v);
        return { input: hex((c.get(1) || [new Uint8Array()])[0]), note: decoder.decode((c.get(2) || [new Uint8Array()])[0]) };
      });
      default: throw new Error(`unknown kind ${kind}`);
    }
  };
  const fieldKind = (event, field) => (SCHEMA[event.eventType] || {})[field]?.[1];

  // ---------------------------------------------------------------- fetching
  const fetchOk = async (url, as) => {
    const response = await fetch(url, { credentials: "omit", cache: "no-store" });
    if (!response.ok) {
      let reason = `${response.status}`;
      try { reason += `: ${(await response.json()).error}`; } catch (_) { /* not JSON */ }
      throw new Error(`${url} answered ${reason}`);
    }
    return as === "text" ? response.text() : as === "bytes" ? new Uint8Array(await response.arrayBuffer()) : response.json();
  };
  // Runs `work` over `items`, a few at a time.
  const inBatches = async (items, work, width = 8) => {
    const results = [];
    for (let i = 0; i < items.length; i += width) {
      results.push(...(await Promise.all(items.slice(i, i + width).map(work))));
    }
    return results;
  };

  // ---------------------------------------------------------------- the check
  const verifyPage = async (root) => {
    const failures = [];
    const steps = [];
    const fail = (what) => { failures.push(what); };
    const step = (ok, text) => steps.push({ ok, text });
    if (!window.isSecureContext || !crypto.subtle) {
      throw new Error("this page is not served over HTTPS (or from this computer), so the browser offers no cryptography to check it with");
    }
    const vkey = root.dataset.logVkey;
    const trustRoot = root.dataset.trustRoot;
    if (!vkey || !trustRoot) throw new Error("the page names no log key or trust root");
    const key = await parseVerifierKey(vkey);
    const storageKey = (what) => `klero:${what}:${key.name}`;

    // The keys this browser saw first for this log.
    const pins = JSON.parse(localStorage.getItem(storageKey("pins")) || "null");
    if (pins && (pins.vkey !== vkey || pins.trustRoot !== trustRoot)) {
      fail(`the log key or trust root differs from the ones this browser saw before for ${key.name}`);
    } else if (!pins) {
      localStorage.setItem(storageKey("pins"), JSON.stringify({ vkey, trustRoot }));
    }

    // 1. The checkpoint, signed by the log key.
    const note = await fetchOk("/api/v1/checkpoint", "text");
    const checkpoint = await verifyCheckpoint(note, key);
    step(true, `The log's checkpoint is signed by its key: ${checkpoint.size} events.`);
    const pageSize = BigInt(root.dataset.treeSize || "0");
    if (checkpoint.size < pageSize) fail(`the checkpoint covers ${checkpoint.size} events, fewer than the ${pageSize} the page shows`);

    // 2. Consistency with the last checkpoint this browser saw.
    const consistencyProof = async (oldSize, newSize) =>
      (await fetchOk(`/api/v1/consistency?old=${oldSize}&new=${newSize}`)).hashes.map(fromBase64);
    const seen = JSON.parse(localStorage.getItem(storageKey("checkpoint")) || "null");
    let consistent = true;
    if (seen) {
      const seenSize = BigInt(seen.size), seenRoot = fromBase64(seen.root);
      try {
        consistent = seenSize <= checkpoint.size
          ? await verifyConsistency(seenSize, checkpoint.size, seenRoot, checkpoint.root, await consistencyProof(seenSize, checkpoint.size))
          : await verifyConsistency(checkpoint.size, seenSize, checkpoint.root, seenRoot, await consistencyProof(checkpoint.size, seenSize));
      } catch (error) {
        consistent = false;
      }
      if (!consistent) {
        fail(`forked log: the checkpoint of ${checkpoint.size} events does not extend the one of ${seenSize} events this browser saw before; this server shows a different history`);
      } else {
        step(true, `The log extends the checkpoint this browser saw before (${seenSize} events): nothing was rewritten.`);
      }
    } else {
      step(true, "This browser had seen no checkpoint of this log before; it keeps this one to compare next time.");
    }
    if (consistent && (!seen || BigInt(seen.size) < checkpoint.size)) {
      localStorage.setItem(storageKey("checkpoint"), JSON.stringify({ size: checkpoint.size.toString(), root: btoa(String.fromCharCode(...checkpoint.root)) }));
    }

    // 3. Every signed event the page names: inclusion, signature, and its author's grant.
    const claimed = new Set();
    root.querySelectorAll("[data-event]").forEach((el) => claimed.add(el.dataset.event));
    const events = new Map();
    const loadEvent = async (logIndex) => {
      if (events.has(logIndex)) return events.get(logIndex);
      const promise = (async () => {
        const answer = await fetchOk(`/api/v1/events/${logIndex}?tree_size=${checkpoint.size}`);
        const bytes = fromBase64(answer.envelope);
        const envelope = parseEnvelope(bytes);
        const eventHash = await eventHashOf(bytes);
        const included = await verifyInclusion(BigInt(logIndex), checkpoint.size, await leafHash(eventHash),
          answer.inclusion.map(fromBase64), checkpoint.root);
        if (!included) throw new Error(`event ${logIndex} is not in the log under the checkpoint (its inclusion proof fails)`);
        const signed = await ledgerSignatureCheck(envelope.authorKey, concat(AUTHOR_CONTEXT, envelope.authorEncoding), envelope.signature);
        if (!signed) throw new Error(`the author's signature on event ${logIndex} does not verify`);
        return { ...envelope, logIndex: BigInt(logIndex), eventHash, fields: parseProtobuf(envelope.payload) };
      })();
      events.set(logIndex, promise);
      return promise;
    };
    const grantsChecked = new Map();
    const checkGrant = async (event) => {
      const author = hex(event.authorKey);
      if (author === trustRoot) return;
      const pkg = /^klero\.([a-z]+)\.v1\./.exec(event.eventType)?.[1];
      const role = ROLE_OF_PACKAGE[pkg];
      if (!role) throw new Error(`event ${event.logIndex} (${event.eventType}) must be signed by the trust root, and is not`);
      const assembly = /^assembly\/([^/]+)/.exec(event.stream)?.[1];
      const memo = `${author}/${role}/${assembly}`;
      if (!grantsChecked.has(memo)) {
        grantsChecked.set(memo, (async () => {
          const listed = (await fetchOk(`/api/v1/grants/${author}`)).grants;
          const good = [];
          for (const g of listed) {
            if (g.role !== role) continue;
            const grant = await loadEvent(String(g.granted_at_log_index));
            if (grant.eventType !== "klero.registry.v1.KeyGranted" || hex(grant.authorKey) !== trustRoot) continue;
            const scope = fieldValue(grant, "scope");
            if (fieldValue(grant, "public_key") === author && fieldValue(grant, "role") === String(role) &&
                (scope === "*" || scope === assembly)) good.push(grant.logIndex);
          }
          return good;
        })());
      }
      const grants = await grantsChecked.get(memo);
      if (!grants.some((at) => at < event.logIndex)) {
        throw new Error(`key ${author.slice(0, 16)}… signed event ${event.logIndex} but holds no grant of the ${ROLE_NAMES[role]} role for ${assembly} from the trust root`);
      }
    };
    const eventFailures = await inBatches([...claimed], async (logIndex) => {
      try {
        const event = await loadEvent(logIndex);
        await checkGrant(event);
        return null;
      } catch (error) {
        return error.message;
      }
    });
    const badEvents = eventFailures.filter(Boolean);
    badEvents.forEach(fail);
    step(badEvents.length === 0, `${claimed.size} signed events shown: each is in the log, signed by its author, and its author's key was granted its role by the trust root.`);

    // 4. What the page shows from each event is what the event says.
    let fieldsChecked = 0;
    for (const el of root.querySelectorAll("[data-event][data-field]")) {
      const logIndex = el.dataset.event;
      const field = el.dataset.field;
      let event;
      try { event = await loadEvent(logIndex); } catch (_) { continue; /* reported above */ }
      fieldsChecked++;
      const shown = normalise(el.textContent);
      let ok;
      if (field === "event_hash") {
        ok = shown === hex(event.eventHash);
      } else {
        const kind = fieldKind(event, field);
        const signed = fieldValue(event, field);
        if (kind === "date") ok = el.getAttribute("datetime") === signed && shown === dateWords(signed);
        else if (kind === "bytes") ok = signed.length > 0 && shown.length >= 12 && signed.startsWith(shown.replace(/…$/, ""));
        else ok = shown === normalise(signed);
      }
      if (!ok) fail(`the ${field.replace(/_/g, " ")} shown for event ${logIndex} is not what was signed: the page says “${shown.slice(0, 80)}”`);
    }
    // Sealed text: the text shown and its salt hash to the commitment the author signed; text
    // shown as erased stands for a field the event really sealed.
    let sealedChecked = 0;
    for (const el of root.querySelectorAll("[data-event][data-sealed-field]")) {
      let event;
      try { event = await loadEvent(el.dataset.event); } catch (_) { continue; }
      fieldsChecked++;
      sealedChecked++;
      const field = el.dataset.sealedField;
      try {
        const signed = sealedCommitment(event, field);
        if (el.dataset.salt) {
          const text = new TextEncoder().encode(el.textContent);
          const salt = fromHex(el.dataset.salt);
          const message = new Uint8Array(COMMITMENT_DOMAIN.length + salt.length + text.length);
          message.set(COMMITMENT_DOMAIN, 0);
          message.set(salt, COMMITMENT_DOMAIN.length);
          message.set(text, COMMITMENT_DOMAIN.length + salt.length);
          if (hex(await sha256(message)) !== signed) fail(`the ${field.replace(/_/g, " ")} shown for event ${el.dataset.event} is not the text its author sealed`);
        }
      } catch (error) {
        fail(error.message);
      }
    }
    for (const el of root.querySelectorAll("[data-citation]")) {
      let event;
      try { event = await loadEvent(el.dataset.event); } catch (_) { continue; }
      fieldsChecked++;
      const note = normalise(el.querySelector("[data-citation-note]")?.textContent ?? "");
      const cited = fieldValue(event, el.dataset.citationsField || "citations");
      if (!cited.some((c) => c.input === el.dataset.citation && normalise(c.note) === note)) {
        fail(`event ${el.dataset.event} does not cite the input shown with the note “${note.slice(0, 60)}”`);
      }
    }
    step(failures.length === badEvents.length, `${fieldsChecked} values shown are the values signed.`);

    // 5. Every document shown hashes to the hash its event commits to.
    const documents = [...root.querySelectorAll("[data-document]")];
    const documentFailures = (await inBatches(documents, async (el) => {
      const hash = el.dataset.document;
      try {
        const event = await loadEvent(el.dataset.event);
        if (fieldValue(event, el.dataset.hashField) !== hash) return `event ${el.dataset.event} does not commit to the document ${hash.slice(0, 12)}… shown with it`;
        // A document the server says it does not hold is not fetched; a linked one is fetched
        // and hashed; a shown one is also compared with the text on the page.
        if (el.dataset.absent) return null;
        const bytes = await fetchOk(`/documents/${hash}`, "bytes");
        if (hex(await sha256(bytes)) !== hash) return `the document ${hash.slice(0, 12)}… does not hash to its committed hash: it was altered`;
        if (el.dataset.linked) return null;
        let text;
        try { text = decoder.decode(bytes); } catch (_) { return `the document ${hash.slice(0, 12)}… is not UTF-8 text`; }
        if (normalise(text) !== normalise(el.textContent)) return `the text shown for document ${hash.slice(0, 12)}… is not the document's text`;
        return null;
      } catch (error) {
        return error.message;
      }
    })).filter(Boolean);
    documentFailures.forEach(fail);
    step(documentFailures.length === 0, `${documents.length} documents shown or linked: each is the document its event commits to.`);

    // 6. Each download hashes to its stated digest, and its tree is a prefix of the log.
    const views = [...root.querySelectorAll("[data-view]")];
    const assembly = root.querySelector("[data-assembly]")?.dataset.assembly
      || /\/assemblies\/([^/]+)/.exec(location.pathname)?.[1];
    const prefixes = new Map();
    const viewFailures = (await inBatches(views, async (row) => {
      try {
        const bytes = await fetchOk(`/assemblies/${assembly}/views/${row.dataset.view}.json`, "bytes");
        if (hex(await sha256(bytes)) !== row.dataset.digest) return `the ${row.dataset.view} download does not hash to the digest shown`;
        const size = BigInt(row.dataset.viewTreeSize);
        const memo = `${size}/${row.dataset.rootHash}`;
        if (!prefixes.has(memo)) {
          prefixes.set(memo, (async () => size <= checkpoint.size && verifyConsistency(size, checkpoint.size,
            fromHex(row.dataset.rootHash), checkpoint.root, await consistencyProof(size, checkpoint.size)))());
        }
        if (!(await prefixes.get(memo))) return `the ${row.dataset.view} view's log of ${size} events is not a prefix of the signed log`;
        return null;
      } catch (error) {
        return error.message;
      }
    })).filter(Boolean);
    viewFailures.forEach(fail);
    if (views.length) step(viewFailures.length === 0, `${views.length} downloads hash to the digests shown, over a prefix of the signed log.`);

    return { ok: failures.length === 0, failures, steps, checkpointSize: Number(checkpoint.size),
      events: claimed.size, documents: documents.length, views: views.length, fields: fieldsChecked,
      sealed: sealedChecked };
  };

  // ---------------------------------------------------------------- the badge
  const show = (result) => {
    const section = document.getElementById("verification");
    const badge = document.getElementById("verification-badge");
    const summary = document.getElementById("verification-summary");
    const list = document.getElementById("verification-steps");
    if (!section || !badge) return;
    section.classList.remove("unchecked", "checking");
    list.replaceChildren();
    if (result.error) {
      section.classList.add("failed");
      badge.textContent = "✗ Not verified";
      summary.textContent = `Your browser could not check this page: ${result.error}.`;
      return;
    }
    section.classList.add(result.ok ? "verified" : "failed");
    badge.textContent = result.ok ? "✓ Verified" : "✗ Verification failed";
    summary.textContent = result.ok
      ? `Your browser checked ${result.events} signed events, ${result.documents} documents and ${result.fields} values on this page against the signed log of ${result.checkpointSize} events.`
      : `What failed: ${result.failures[0]}${result.failures.length > 1 ? ` (and ${result.failures.length - 1} more)` : ""}.`;
    for (const s of result.steps) {
      const li = document.createElement("li");
      li.textContent = `${s.ok ? "✓" : "✗"} ${s.text}`;
      list.append(li);
    }
    for (const f of result.failures) {
      const li = document.createElement("li");
      li.className = "failure";
      li.textContent = `✗ ${f}`;
      list.append(li);
    }
    if (!result.ok) document.getElementById("verification-details").open = true;
  };

  // For tests and for anyone who wants to check by hand from the console.
  window.klero = { ledgerSignatureCheck, verifyInclusion, verifyConsistency, parseEnvelope, fromHex };

  const start = () => {
    const root = document.getElementById("content");
    if (!root || !root.dataset.logVkey) return;
    const badge = document.getElementById("verification-badge");
    document.getElementById("verification")?.classList.replace("unchecked", "checking");
    if (badge) badge.textContent = "Checking…";
    window.kleroVerification = verifyPage(root)
      .catch((error) => ({ ok: false, error: error.message, failures: [error.message], steps: [] }))
      .then((result) => { show(result); return result; });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
