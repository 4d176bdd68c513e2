// Kleroterion: your browser checks the page against the signed log.
//
// The checking is done by Kleroterion's own verifier and page renderer, compiled to
// WebAssembly (klero.wasm, built from the crates klero-browser, klero-verifier and klero-pages).
// This script knows nothing of the record: it asks the module which slice of the log the page
// needs, fetches it, hands it to the module with what this browser already trusts (the keys it
// pinned, the newest checkpoint it saw), and compares the page the module derived with the one
// the server sent, element by element. The page then shows what was derived.
//
// Whoever serves this page also serves this script and the module. To check a server without
// trusting it, use the standalone verifier (/static/verifier.html), which anyone can host.
"use strict";

(() => {
  const decoder = new TextDecoder();
  // The child indices from <body> down to `node`, or null if it is not under <body>.
  const pathFromBody = (node) => {
    const path = [];
    while (node && node !== document.body) {
      const parent = node.parentNode;
      if (!parent) return null;
      path.unshift(Array.prototype.indexOf.call(parent.childNodes, node));
      node = parent;
    }
    return node === document.body ? path : null;
  };
  const encoder = new TextEncoder();

  // ------------------------------------------------------------------ the module
  // The module's exports, once loaded: also where this script's words come from.
  let wordsFrom = null;
  const modules = new Map();
  const loadModule = (source) => {
    if (typeof source === "string" && modules.has(source)) return modules.get(source);
    const instantiate = source instanceof Uint8Array
      ? WebAssembly.instantiate(source, {})
      : WebAssembly.instantiateStreaming(fetch(source), {});
    const loaded = instantiate.then((result) => {
      const exports = (result.instance || result).exports;
      if (!wordsFrom) wordsFrom = exports;
      return exports;
    });
    if (typeof source === "string") modules.set(source, loaded);
    return loaded;
  };
  // Calls one of the module's functions with bytes, and parses the JSON it answers.
  const call = (exports, name, bytes) => {
    const input = exports.klero_alloc(bytes.length);
    new Uint8Array(exports.memory.buffer, input, bytes.length).set(bytes);
    const output = exports[name](input, bytes.length);
    const length = new DataView(exports.memory.buffer).getUint32(output, true);
    const text = decoder.decode(new Uint8Array(exports.memory.buffer, output + 4, length));
    exports.klero_free(output, length + 4);
    return JSON.parse(text);
  };
  // The page's language, and what its own links start with.
  const lang = document.documentElement.lang === "cy" ? "cy" : "en";
  const prefix = lang === "cy" ? "/cy" : "";
  // A message of the pages' catalogue (one catalogue, compiled into the module), in the page's
  // language.
  const say = (id, args) => call(wordsFrom, "klero_say", encoder.encode(JSON.stringify({ lang, id, args: args || {} })));
  const plan = (exports, address) => call(exports, "klero_plan", encoder.encode(address));
  const check = (exports, request, sliceText) => {
    const header = encoder.encode(JSON.stringify(request));
    const slice = encoder.encode(sliceText);
    const bytes = new Uint8Array(4 + header.length + slice.length);
    new DataView(bytes.buffer).setUint32(0, header.length, true);
    bytes.set(header, 4);
    bytes.set(slice, 4 + header.length);
    return call(exports, "klero_check", bytes);
  };

  // ------------------------------------------------------------------ what this browser keeps
  // Per server: the keys it pinned on first use, and the newest checkpoint it saw.
  const store = (server) => ({
    pins: () => JSON.parse(localStorage.getItem(`klero:pins:${server}`) || "null"),
    setPins: (pins) => localStorage.setItem(`klero:pins:${server}`, JSON.stringify({ ...pins, since: new Date().toISOString() })),
    forgetPins: () => { localStorage.removeItem(`klero:pins:${server}`); localStorage.removeItem(`klero:seen:${server}`); },
    seen: () => JSON.parse(localStorage.getItem(`klero:seen:${server}`) || "null"),
    setSeen: (seen) => localStorage.setItem(`klero:seen:${server}`, JSON.stringify({ ...seen, on: new Date().toISOString() })),
    // Per page: the stream heads its slice showed, checked against the next visit's.
    heads: (slice) => JSON.parse(localStorage.getItem(`klero:heads:${server}:${slice}`) || "null"),
    setHeads: (slice, heads) => localStorage.setItem(`klero:heads:${server}:${slice}`, JSON.stringify(heads)),
  });

  // ------------------------------------------------------------------ comparing pages
  const attributes = (element) => Array.from(element.attributes, (a) => `${a.name}=${a.value}`).sort().join("\n");
  // The nearest heading or labelled section around a node, to say where a difference is.
  const whereIs = (node) => {
    for (let at = node; at; at = at.parentNode) {
      if (at.nodeType !== 1) continue;
      const label = at.getAttribute("aria-label");
      if (label) return label;
      const heading = at.matches("h1,h2,h3,h4,h5") ? at : at.querySelector(":scope > h1, :scope > h2, :scope > h3, :scope > h4, :scope > header h1");
      if (heading && heading.textContent.trim()) return heading.textContent.trim().replace(/\s+/g, " ");
    }
    return "the page";
  };
  const brief = (node) => {
    if (!node) return "nothing";
    const text = (node.textContent || "").trim().replace(/\s+/g, " ");
    if (text) return `“${text.length > 160 ? `${text.slice(0, 157)}…` : text}”`;
    return node.nodeType === 1 ? `a <${node.tagName.toLowerCase()}> element` : "an empty text";
  };
  // The first difference between the server's nodes and the derived ones, or null. The
  // verification section is this script's own and is skipped. So are statements marked as the
  // server's word (data-server-word), which no reader can check and which may change between
  // the page and its slice (a key rotation): the page shown is the derived one either way, so
  // skipping them decides nothing that is shown.
  const firstDifference = (served, derived) => {
    // Directly under <body>, whitespace-only text is the parser's (the line breaks around the
    // body's tags) and shows nothing; everywhere else text is compared exactly.
    const atTop = served.nodeName === "BODY";
    const children = (node) => Array.from(node.childNodes).filter((child) =>
      !(child.nodeType === 1 && (child.id === "verification" || child.hasAttribute("data-server-word"))) && (child.nodeType === 1 || child.nodeType === 3)
      && !(atTop && child.nodeType === 3 && child.data.trim() === ""));
    const a = children(served), b = children(derived);
    // What a list shows from `at` on, skipping the whitespace between elements: what a reader
    // would see missing or added.
    const from = (list, at) => list.slice(at).find((node) => node.nodeType === 1 || node.data.trim() !== "");
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const x = a[i], y = b[i];
      if (!x || !y || x.nodeType !== y.nodeType || (x.nodeType === 3 && x.data !== y.data) || (x.nodeType === 1 && x.tagName !== y.tagName)) {
        const shown = from(a, i), derivedNode = from(b, i);
        return { where: whereIs(derivedNode || y || derived), served: brief(shown), derived: brief(derivedNode) };
      }
      if (x.nodeType === 3) continue;
      if (attributes(x) !== attributes(y)) {
        const name = Array.from(y.attributes, (att) => att.name).concat(Array.from(x.attributes, (att) => att.name))
          .find((n) => x.getAttribute(n) !== y.getAttribute(n));
        return {
          where: whereIs(y),
          served: say("js-with-attribute", { element: brief(x), name, value: x.getAttribute(name) ?? "" }),
          derived: say("js-with-attribute", { element: brief(y), name, value: y.getAttribute(name) ?? "" }),
        };
      }
      const inner = firstDifference(x, y);
      if (inner) return inner;
    }
    return null;
  };
  const parseBody = (html) => new DOMParser().parseFromString(`<!DOCTYPE html><html><head></head><body>${html}</body></html>`, "text/html").body;

  // ------------------------------------------------------------------ what the badge says

  // The badge and its details, in the page's verification section (this script's own).
  const badge = (section, state, headline, lines, actions) => {
    section.className = `verification ${state}`;
    section.replaceChildren();
    const line = document.createElement("p");
    line.className = "badge-line";
    const mark = document.createElement("span");
    mark.className = "badge";
    mark.id = "verification-badge";
    mark.textContent = say(`js-badge-${state}`);
    const summary = document.createElement("span");
    summary.id = "verification-summary";
    summary.textContent = headline;
    line.append(mark, " ", summary);
    section.append(line);
    if (lines.length) {
      const details = document.createElement("details");
      details.id = "verification-details";
      if (state === "failed") details.open = true;
      const title = document.createElement("summary");
      title.textContent = say(state === "failed" ? "js-details-failed" : "js-details-checked");
      const list = document.createElement("ul");
      list.id = "verification-steps";
      for (const text of lines) {
        const item = document.createElement("li");
        item.textContent = text;
        list.append(item);
      }
      details.append(title, list);
      section.append(details);
    }
    for (const action of actions || []) section.append(action);
  };

  const steps = (result, seen) => {
    const s = result.summary;
    const out = [
      say("js-step-checkpoint", { size: s.tree_size, cosigned: s.cosigned_by.length ? s.cosigned_by.join(", ") : "none" }),
      say("js-step-events", { events: s.events, signatures: s.signatures }),
      say("js-step-streams", { streams: s.streams }),
    ];
    if (s.openings) out.push(say("js-step-openings", { count: s.openings }));
    if (s.documents) out.push(say("js-step-documents", { count: s.documents }));
    if (seen) out.push(say("js-step-extends", { size: seen.size, on: seen.on ? seen.on.slice(0, 10) : say("js-an-earlier-visit") }));
    out.push(say("js-step-rebuilt"));
    return out;
  };

  // ------------------------------------------------------------------ checking a page
  // options: { server (origin of the record), module (URL or bytes), address (path and query),
  //            served (the body element the server sent, or null), section (the badge's
  //            element), render (a function given the derived title and body), receipt }
  const checkPage = async (options) => {
    const exports = await loadModule(options.module);
    const kept = store(options.server);
    const planned = plan(exports, options.address);
    if (planned.failure) throw new Error(planned.failure.reason);
    if (!planned.slice) {
      badge(options.section, "neutral", say("js-nothing-from-record"), []);
      return { ok: null };
    }
    const pins = kept.pins();
    const seen = kept.seen();
    const from = [seen && seen.size, options.receiptSize].filter((n) => n !== undefined && n !== null);
    const query = [];
    if (options.size !== undefined && options.size !== null) query.push(`size=${options.size}`);
    if (from.length) query.push(`from=${from.join(",")}`);
    const separator = planned.slice.includes("?") ? "&" : "?";
    const url = `${options.server}/api/v1/slices/${planned.slice}${query.length ? separator + query.join("&") : ""}`;
    let response;
    try {
      response = await fetch(url, { cache: "no-store" });
    } catch (error) {
      badge(options.section, "unchecked", say("js-could-not-fetch", { error: error.message }), []);
      return { ok: null };
    }
    if (!response.ok) {
      const reason = (await response.text()).trim();
      if (response.status === 404 && options.size !== undefined && !options.retried) {
        // The server no longer keeps the checkpoint the page was made at: a newer page.
        options.reload();
        return;
      }
      badge(options.section, "unchecked", say("js-server-did-not-send", { status: String(response.status), reason }), []);
      return { ok: null };
    }
    const sliceText = await response.text();
    const heads = kept.heads(planned.slice);
    const request = { page: options.address, pins, seen: seen && { size: seen.size, root: seen.root }, receipt: options.receipt || null, heads };
    const result = check(exports, request, sliceText);
    if (!result.ok) {
      const failure = result.failure;
      const lines = [failure.reason + (failure.position !== null && failure.position !== undefined ? say("js-at-log-index", { index: failure.position }) : "")];
      const actions = [];
      if (failure.class === "pin" && pins && result.keys) {
        lines.push(say("js-pin-trusted", { since: pins.since ? pins.since.slice(0, 10) : say("js-its-first-visit"), log_key: pins.log_key, trust_root: pins.trust_root }));
        lines.push(say("js-pin-now", { log_key: result.keys.log_key, trust_root: result.keys.trust_root }));
        lines.push(say("js-pin-why"));
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = say("js-pin-trust-new");
        button.addEventListener("click", () => { kept.forgetPins(); options.reload(); });
        actions.push(button);
      }
      if (failure.class === "stale" && !options.retried) {
        options.reload();
        return;
      }
      const headline = say(`js-failure-${failure.class}`);
      badge(options.section, "failed", headline.startsWith("[") ? say("js-failure-other") : headline, lines, actions);
      return { ok: false, failure };
    }
    if (!pins) kept.setPins(result.keys);
    if (!seen || result.checkpoint.size >= seen.size) kept.setSeen(result.checkpoint);
    if (!heads || result.heads.size >= heads.size) kept.setHeads(planned.slice, result.heads);
    const derived = parseBody(result.body);
    const difference = options.served ? firstDifference(options.served, derived) : null;
    if (difference && !options.retried && Number(options.size) < result.checkpoint.size) {
      options.reload();
      return;
    }
    options.render(result.title, derived);
    const section = document.getElementById("verification") || options.section;
    if (difference) {
      badge(section, "failed", say("js-differs"), [
        say("js-difference", { where: difference.where, served: difference.served, derived: difference.derived }),
        ...steps(result, seen),
      ]);
      return { ok: false, difference };
    }
    badge(section, "verified", say(options.served ? "js-matches" : "js-derived"), steps(result, seen));
    return { ok: true };
  };

  window.Kleroterion = { checkPage, loadModule };

  // ------------------------------------------------------------------ taking part
  // A resident's submission, signed in this browser with a key only this browser holds
  // (WebCrypto Ed25519, made not extractable, kept in IndexedDB). The module composes and seals
  // what the resident typed and hands back the bytes to sign; this script signs them and posts
  // them, and knows nothing of what they hold. Without WebCrypto's Ed25519, or if anything fails
  // before posting, the form posts as it does with no script, to the server's own intake.
  const residentKey = () => new Promise((resolve, reject) => {
    const opening = indexedDB.open("klero", 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("keys");
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const db = opening.result;
      const read = db.transaction("keys").objectStore("keys").get("resident");
      read.onerror = () => reject(read.error);
      read.onsuccess = async () => {
        if (read.result) { resolve(read.result); return; }
        try {
          const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
          const write = db.transaction("keys", "readwrite").objectStore("keys").put(pair, "resident");
          write.onsuccess = () => resolve(pair);
          write.onerror = () => reject(write.error);
        } catch (error) { reject(error); }
      };
    };
  });
  const toBase64 = (bytes) => btoa(Array.from(new Uint8Array(bytes), (b) => String.fromCharCode(b)).join(""));
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  // What this browser sent, per server, so that the resident can come back to it.
  const remember = (server, logIndex) => {
    const key = `klero:mine:${server}`;
    const mine = JSON.parse(localStorage.getItem(key) || "[]");
    mine.push({ log_index: logIndex, at: new Date().toISOString() });
    localStorage.setItem(key, JSON.stringify(mine));
  };
  const signAndPost = async (form) => {
    const pair = await residentKey();
    const publicKey = await crypto.subtle.exportKey("raw", pair.publicKey);
    const exports = await loadModule("/static/klero.wasm");
    const value = (name) => (form.elements[name] ? form.elements[name].value : "");
    const callId = decodeURIComponent((/\/calls\/([^/]+)\/submissions$/.exec(new URL(form.action).pathname) || [])[1] || "");
    const composed = call(exports, "klero_compose", encoder.encode(JSON.stringify({
      page: location.pathname, call: callId, text: value("text"), name: value("name"), postcode: value("postcode"),
      email: value("email"), public_key: toBase64(publicKey),
      random: toBase64(crypto.getRandomValues(new Uint8Array(exports.klero_compose_random_bytes()))),
      now_unix_ms: Date.now(), work_bits: Number(form.dataset.work || 0),
    })));
    if (!composed.ok) return { refused: composed.reason };
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, fromBase64(composed.signing_input));
    const response = await fetch("/api/v1/submissions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ author: composed.author, signature: toBase64(signature), data_key: composed.data_key }),
    });
    const answer = await response.text();
    if (!response.ok) return { refused: answer };
    return { posted: JSON.parse(answer) };
  };
  // A resident's appeal of their own withheld submission, signed with the same key.
  const appeal = async (form) => {
    const pair = await residentKey();
    const publicKey = await crypto.subtle.exportKey("raw", pair.publicKey);
    const exports = await loadModule("/static/klero.wasm");
    const assembly = new URL(form.closest("main").querySelector("a[href^='/assemblies/']").href).pathname.split("/")[2];
    const composed = call(exports, "klero_compose_appeal", encoder.encode(JSON.stringify({
      assembly, submission: form.dataset.submission, public_key: toBase64(publicKey),
      random: toBase64(crypto.getRandomValues(new Uint8Array(16))), now_unix_ms: Date.now(),
    })));
    if (!composed.ok) return composed.reason;
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, fromBase64(composed.signing_input));
    const response = await fetch("/api/v1/submissions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ author: composed.author, signature: toBase64(signature) }),
    });
    return response.ok ? null : await response.text();
  };
  // Offered once the page is checked (the derived page has the form hidden, as the served one),
  // and only to the browser that sent the submission.
  const offerAppeal = () => {
    const form = document.querySelector("form.appeal-form[data-submission]");
    const index = new URLSearchParams(location.search).get("log_index");
    const mine = JSON.parse(localStorage.getItem(`klero:mine:${location.origin}`) || "[]");
    if (form && index !== null && mine.some((sent) => String(sent.log_index) === index)) form.hidden = false;
  };
  const takePart = (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.classList.contains("appeal-form")) {
      event.preventDefault();
      appeal(form).then((refused) => {
        const note = document.createElement("p");
        note.setAttribute("role", refused ? "alert" : "status");
        note.className = refused ? "form-error" : "submitted";
        note.textContent = refused ? say("js-not-sent", { reason: refused }) : say("js-appeal-recorded");
        form.replaceWith(note);
      });
      return;
    }
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("call-form")) return;
    if (!window.crypto || !crypto.subtle || !window.indexedDB) return;
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    signAndPost(form).then((outcome) => {
      if (button) button.disabled = false;
      const old = form.querySelector(".form-error");
      if (old) old.remove();
      if (outcome.refused !== undefined) {
        const error = document.createElement("p");
        error.className = "form-error";
        error.setAttribute("role", "alert");
        error.textContent = say("js-not-sent", { reason: outcome.refused });
        form.insertBefore(error, button ? button.parentNode : null);
        return;
      }
      const logIndex = outcome.posted.log_index;
      remember(location.origin, logIndex);
      const note = document.createElement("div");
      note.className = "submitted";
      note.setAttribute("role", "status");
      const heading = document.createElement("h4");
      heading.textContent = say("js-received");
      const text = document.createElement("p");
      text.textContent = `${say("js-received-text", { index: logIndex })} `;
      const link = document.createElement("a");
      link.href = prefix + outcome.posted.receipt;
      link.textContent = say("submitted-follow");
      const download = document.createElement("a");
      download.href = `/api/v1/receipts/${encodeURIComponent(logIndex)}`;
      download.setAttribute("download", `receipt-${logIndex}.txt`);
      download.textContent = say("submitted-download");
      text.append(link, " · ", download);
      note.append(heading, text);
      form.replaceWith(note);
    }).catch(() => form.submit());
  };
  document.addEventListener("submit", takePart);
  // What this browser sent to this server, listed on the receipt page: each links to its own
  // page, which the browser checks like any other.
  const listMine = () => {
    if (location.pathname !== `${prefix}/receipt` || location.search) return;
    const mine = JSON.parse(localStorage.getItem(`klero:mine:${location.origin}`) || "[]");
    const anchor = document.getElementById("check-a-receipt");
    if (!mine.length || !anchor) return;
    const section = document.createElement("section");
    section.id = "mine";
    const heading = document.createElement("h2");
    heading.textContent = say("js-mine-heading");
    const list = document.createElement("ul");
    for (const sent of mine) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `${prefix}/receipt?log_index=${encodeURIComponent(sent.log_index)}`;
      link.textContent = say("js-mine-item", { on: String(sent.at).slice(0, 10), index: sent.log_index });
      item.append(link);
      list.append(item);
    }
    section.append(heading, list);
    anchor.before(section);
  };

  // ------------------------------------------------------------------ this site's pages
  const onThisSite = () => {
    const main = document.getElementById("content");
    const section = document.getElementById("verification");
    if (!main || !section || document.documentElement.dataset.standalone !== undefined) return;
    const address = location.pathname + location.search;
    const retriedKey = `klero:retried:${address}`;
    const options = {
      server: location.origin,
      module: "/static/klero.wasm",
      address,
      size: main.dataset.treeSize,
      served: document.body,
      section,
      retried: sessionStorage.getItem(retriedKey) === main.dataset.treeSize,
      reload: () => { sessionStorage.setItem(retriedKey, main.dataset.treeSize); location.reload(); },
      render: (title, derived) => {
        document.title = `${title} · Kleroterion`;
        const keep = document.getElementById("verification");
        // A keyboard user who tabbed before the check settled keeps their place: the derived
        // page equals the served one, so the focused node is at the same path in it.
        const focused = document.activeElement && document.activeElement !== document.body
          ? pathFromBody(document.activeElement) : null;
        const nodes = Array.from(derived.childNodes);
        document.body.replaceChildren(...nodes.map((node) => document.importNode(node, true)));
        const placeholder = document.getElementById("verification");
        if (keep && placeholder) placeholder.replaceWith(keep);
        const refocus = focused && focused.reduce((node, i) => node && node.childNodes[i], document.body);
        if (refocus && typeof refocus.focus === "function") refocus.focus();
      },
    };
    const checking = loadModule(options.module).then(() => badge(section, "unchecked", say("js-checking-page"), []));
    // The outcome, once the check has settled (a reload starts a new page instead).
    const settle = (outcome) => {
      const badgeElement = document.getElementById("verification");
      window.kleroOutcome = {
        state: badgeElement ? badgeElement.className.replace("verification ", "") : "unchecked",
        badge: (document.getElementById("verification-badge") || {}).textContent,
        summary: (document.getElementById("verification-summary") || {}).textContent,
        steps: Array.from(document.querySelectorAll("#verification-steps li"), (li) => li.textContent),
        class: outcome && outcome.failure ? outcome.failure.class : null,
        where: outcome && outcome.difference ? outcome.difference.where : null,
        // Milliseconds from navigation to the settled badge, for klero-bench's `browser` bench.
        settledAt: performance.now(),
      };
    };
    window.kleroVerification = checking.then(() => checkPage(options)).then((outcome) => {
      if (outcome !== undefined) { sessionStorage.removeItem(retriedKey); settle(outcome); offerAppeal(); }
      return outcome;
    }).catch((error) => {
      // Without the module there are no words to say it in: the server's own "not checked"
      // stays, and the reason goes to the console.
      if (wordsFrom) badge(document.getElementById("verification") || section, "unchecked", say("js-could-not-check", { error: error.message }), []);
      else console.error("Kleroterion: this page could not be checked:", error);
      settle(null);
    });
    // A receipt pasted into the form is checked here, not sent to the server.
    const form = document.getElementById("receipt-form");
    if (form) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = form.querySelector("textarea").value.replace(/\r\n/g, "\n").trimStart();
        const receipt = text.endsWith("\n") ? text : `${text}\n`;
        const index = /^leaf-index (\d+)$/m.exec(receipt);
        const size = /\ncheckpoint\n[^\n]*\n(\d+)\n/.exec(receipt);
        if (!index) {
          badge(document.getElementById("verification"), "failed", say("js-not-a-receipt"), []);
          return;
        }
        history.pushState(null, "", `${prefix}/receipt?log_index=${index[1]}`);
        const section = document.getElementById("verification");
        badge(section, "unchecked", say("js-checking-receipt"), []);
        checkPage({ ...options, address: `${prefix}/receipt?log_index=${index[1]}`, size: undefined, served: null, receipt, receiptSize: size && Number(size[1]), section })
          .catch((error) => badge(document.getElementById("verification"), "unchecked", say("js-could-not-check-receipt", { error: error.message }), []));
      });
    }
  };
  const onLoad = () => {
    onThisSite();
    if (document.documentElement.dataset.standalone === undefined) loadModule("/static/klero.wasm").then(listMine, () => {});
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", onLoad);
  else onLoad();
})();
