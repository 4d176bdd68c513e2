//! The module's memory interface, the one place `unsafe` is allowed: the script copies its
//! input into memory it asked [`klero_alloc`] for, calls one function, reads the answer the
//! returned pointer names (a little-endian `u32` length, then that many bytes of JSON) and
//! frees both with [`klero_free`].
//!
//! Input of [`klero_plan`]: the page's address (UTF-8). Input of [`klero_check`]: a
//! little-endian `u32` length, that many bytes of JSON request ([`crate::CheckRequest`]), then
//! the slice's text.
#![allow(unsafe_code)]

/// Memory for `len` bytes, for the script to fill.
#[no_mangle]
pub extern "C" fn klero_alloc(len: usize) -> *mut u8 {
    // A boxed slice's allocation is exactly its length, so `klero_free` can rebuild it.
    Box::into_raw(vec![0u8; len].into_boxed_slice()).cast::<u8>()
}

/// Gives back what [`klero_alloc`] or an answer took.
///
/// # Safety
/// `pointer` and `len` must be exactly a pointer and length this module handed out, freed once.
#[no_mangle]
pub unsafe extern "C" fn klero_free(pointer: *mut u8, len: usize) {
    // SAFETY: the caller hands back a boxed slice of `len` bytes made here.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(pointer, len)) });
}

/// The bytes the script placed at `pointer`, taking the memory back.
///
/// # Safety
/// `pointer` must come from [`klero_alloc`] for exactly `len` bytes.
unsafe fn input(pointer: *mut u8, len: usize) -> Box<[u8]> {
    // SAFETY: a boxed slice of `len` bytes from `klero_alloc`.
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(pointer, len)) }
}

/// An answer: its length, then its bytes, in memory the script frees (length + 4 bytes).
fn answer(json: String) -> *mut u8 {
    let mut bytes = Vec::with_capacity(json.len() + 4);
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(json.as_bytes());
    Box::into_raw(bytes.into_boxed_slice()).cast::<u8>()
}

fn error_json(reason: &str) -> String {
    serde_json::json!({"ok": false, "failure": {"class": "format", "position": null, "reason": reason}}).to_string()
}

/// One of the pages' messages for the script, in the page's language ([`crate::say`]): JSON
/// `{"lang": "en"|"cy", "id": …, "args": {name: number or text}}`, answered as a JSON string.
///
/// # Safety
/// As [`input`]: the input's memory is taken back.
#[no_mangle]
pub unsafe extern "C" fn klero_say(pointer: *mut u8, len: usize) -> *mut u8 {
    // SAFETY: the script passes memory it filled from `klero_alloc`.
    let bytes = unsafe { input(pointer, len) };
    let text = serde_json::from_slice(&bytes).map(|request| crate::say(&request)).unwrap_or_default();
    answer(serde_json::Value::from(text).to_string())
}

/// Which slice the page at the given address needs ([`crate::plan`]).
///
/// # Safety
/// As [`input`]: the input's memory is taken back.
#[no_mangle]
pub unsafe extern "C" fn klero_plan(pointer: *mut u8, len: usize) -> *mut u8 {
    // SAFETY: the script passes memory it filled from `klero_alloc`.
    let bytes = unsafe { input(pointer, len) };
    let json = match String::from_utf8(bytes.into_vec()) {
        Ok(address) => match crate::plan(&address) {
            Ok(plan) => serde_json::to_string(&plan).unwrap_or_else(|e| error_json(&e.to_string())),
            Err(reason) => error_json(&reason),
        },
        Err(_) => error_json("the address is not UTF-8"),
    };
    answer(json)
}

/// How many random bytes [`klero_compose`] needs from the browser.
#[no_mangle]
pub extern "C" fn klero_compose_random_bytes() -> u32 {
    crate::COMPOSE_RANDOM_BYTES as u32
}

/// Composes a resident's submission for the browser to sign ([`crate::compose`]); the input
/// is a JSON [`crate::ComposeRequest`].
///
/// # Safety
/// As [`input`]: the input's memory is taken back.
#[no_mangle]
pub unsafe extern "C" fn klero_compose(pointer: *mut u8, len: usize) -> *mut u8 {
    // SAFETY: the script passes memory it filled from `klero_alloc`.
    let bytes = unsafe { input(pointer, len) };
    let json = match serde_json::from_slice::<crate::ComposeRequest>(&bytes) {
        Ok(request) => serde_json::to_string(&crate::compose(&request)).unwrap_or_else(|e| error_json(&e.to_string())),
        Err(e) => serde_json::json!({"ok": false, "reason": format!("the request: {e}")}).to_string(),
    };
    answer(json)
}

/// Composes a resident's appeal of their withheld submission ([`crate::compose_appeal`]); the
/// input is a JSON [`crate::AppealRequest`].
///
/// # Safety
/// As [`input`]: the input's memory is taken back.
#[no_mangle]
pub unsafe extern "C" fn klero_compose_appeal(pointer: *mut u8, len: usize) -> *mut u8 {
    // SAFETY: the script passes memory it filled from `klero_alloc`.
    let bytes = unsafe { input(pointer, len) };
    let json = match serde_json::from_slice::<crate::AppealRequest>(&bytes) {
        Ok(request) => {
            serde_json::to_string(&crate::compose_appeal(&request)).unwrap_or_else(|e| error_json(&e.to_string()))
        }
        Err(e) => serde_json::json!({"ok": false, "reason": format!("the request: {e}")}).to_string(),
    };
    answer(json)
}

/// Checks a slice and derives the page ([`crate::check`]).
///
/// # Safety
/// As [`input`]: the input's memory is taken back.
#[no_mangle]
pub unsafe extern "C" fn klero_check(pointer: *mut u8, len: usize) -> *mut u8 {
    // SAFETY: the script passes memory it filled from `klero_alloc`.
    let bytes = unsafe { input(pointer, len) };
    answer(check_bytes(&bytes))
}

/// [`klero_check`]'s work on its input's bytes.
pub fn check_bytes(bytes: &[u8]) -> String {
    let Some(header) = bytes.get(..4) else { return error_json("the input is shorter than its header") };
    let request_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let Some(request) = bytes.get(4..4 + request_len) else { return error_json("the request runs past the input") };
    let request: crate::CheckRequest = match serde_json::from_slice(request) {
        Ok(request) => request,
        Err(e) => return error_json(&format!("the request does not parse: {e}")),
    };
    let Ok(slice) = std::str::from_utf8(&bytes[4 + request_len..]) else {
        return error_json("the slice is not UTF-8");
    };
    let result = crate::check(&request, slice);
    serde_json::to_string(&result).unwrap_or_else(|e| error_json(&e.to_string()))
}
