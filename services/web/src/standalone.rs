//! The standalone verifier: one HTML file, with the page script and the verifier module inside
//! it, that checks any Kleroterion server's pages from wherever it is opened (another site, or
//! a file on disk). A newspaper or a civic group can host it, so that a resident's check does
//! not depend on the server being checked. It fetches slices across origins (the read API
//! sends CORS headers) and renders what it derived.

use base64::Engine as _;

/// The bootstrap script of the standalone page: reads the form, runs the check.
const BOOTSTRAP: &str = r##""use strict";
(() => {
  const form = document.getElementById("target");
  const section = document.getElementById("verification");
  const derived = document.getElementById("derived");
  const bytes = Uint8Array.from(atob(document.getElementById("module").textContent.trim()), (c) => c.charCodeAt(0));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const server = form.elements.server.value.trim().replace(/\/+$/, "");
    let address = form.elements.page.value.trim() || "/";
    if (!address.startsWith("/")) address = `/${address}`;
    derived.replaceChildren();
    window.Kleroterion.checkPage({
      server, module: bytes, address, served: null, section, retried: true, reload: () => {},
      render: (title, body) => {
        const main = body.querySelector("main") || body;
        const verification = main.querySelector("#verification");
        if (verification) verification.remove();
        // Links point to the server checked, not to this page's host.
        for (const link of main.querySelectorAll("a[href^='/']")) link.href = server + link.getAttribute("href");
        const heading = document.createElement("h2");
        heading.textContent = title;
        derived.replaceChildren(heading, ...Array.from(main.childNodes, (node) => document.importNode(node, true)));
      },
    }).catch((error) => { section.textContent = `The check could not run: ${error.message}`; });
  });
})();
"##;

/// The page's text.
pub fn verifier_page() -> String {
    let module = base64::engine::general_purpose::STANDARD.encode(crate::pages::klero_browser_module());
    let style = include_str!("../assets/klero.css");
    let script = include_str!("../assets/klero.js");
    format!(
        r##"<!DOCTYPE html>
<html lang="en" data-standalone>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Check a Kleroterion record · standalone verifier</title>
<style>{style}</style>
</head>
<body>
<main id="content">
<h1>Check a citizens' assembly's record</h1>
<p class="lede">This page checks a Kleroterion server's public record in your browser, with Kleroterion's verifier inside this file. It does not trust the server it checks: it fetches the signed log and derives the page itself. Keep a copy of this file, or open it from a site you trust.</p>
<form id="target">
<p><label for="server">The server's address</label><br><input id="server" name="server" type="url" required placeholder="https://record.council.example" size="40"></p>
<p><label for="page">The page to check (an assembly, an event, or the list)</label><br><input id="page" name="page" type="text" value="/" size="40"></p>
<p><button type="submit">Check it</button></p>
</form>
<section id="verification" class="verification unchecked" aria-live="polite"><p>Nothing checked yet.</p></section>
<div id="derived"></div>
</main>
<script type="application/wasm-base64" id="module">{module}</script>
<script>{script}</script>
<script>{BOOTSTRAP}</script>
</body>
</html>
"##
    )
}

/// The standalone page's policy, when this server serves it: its own inline script and style
/// (by hash), WebAssembly, and connections to any server it is asked to check.
pub static CONTENT_SECURITY_POLICY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let hash =
        |text: &str| base64::engine::general_purpose::STANDARD.encode(klero_ledger::Hash256::of(text.as_bytes()).0);
    format!(
        "default-src 'none'; script-src 'sha256-{}' 'sha256-{}' 'wasm-unsafe-eval'; style-src 'sha256-{}'; \
         connect-src http: https:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        hash(include_str!("../assets/klero.js")),
        hash(BOOTSTRAP),
        hash(include_str!("../assets/klero.css")),
    )
});
