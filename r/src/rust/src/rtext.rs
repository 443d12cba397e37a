//! R strings as UTF-8, checked. extendr reads a CHARSXP's bytes as UTF-8 without looking at
//! its encoding or checking them; here a string marked latin1 (or native in a locale that is
//! not UTF-8) is translated by R first, one marked "bytes" is refused, and bytes that are
//! not UTF-8 are refused, so no argument can make invalid `&str`s on this side.

use std::ffi::CStr;
use std::os::raw::c_char;

use extendr_api::prelude::*;
use extendr_ffi::{cetype_t, R_NaString, R_CHAR, SEXP, STRING_ELT};

// SEXP points to R's opaque SEXPREC, which is only ever passed back to R (extendr-ffi declares
// its own functions the same way).
#[allow(improper_ctypes)]
extern "C" {
    // Part of R's API (Rinternals.h); extendr-ffi does not declare them.
    fn Rf_getCharCE(x: SEXP) -> cetype_t;
    fn Rf_translateCharUTF8(x: SEXP) -> *const c_char;
}

/// Whether R's native encoding is UTF-8 (then a string marked "unknown" is UTF-8 as it is):
/// the codeset of the locale R set at startup.
fn native_is_utf8() -> bool {
    // SAFETY: nl_langinfo returns a static string of the current locale (never null in
    // glibc or macOS); it is read at once.
    let codeset = unsafe { CStr::from_ptr(libc::nl_langinfo(libc::CODESET)) };
    let codeset = codeset.to_bytes().to_ascii_lowercase();
    codeset == b"utf-8" || codeset == b"utf8"
}

/// The text of element `i` of the character vector `strings`; `None` for NA.
///
/// # Safety
/// `strings` is a protected STRSXP and `i` is within it.
unsafe fn element(strings: SEXP, i: isize) -> std::result::Result<Option<String>, &'static str> {
    // SAFETY: the caller's contract.
    let ch = unsafe { STRING_ELT(strings, i) };
    // SAFETY: R_NaString is R's NA_character_, set up before any package code runs.
    if ch == unsafe { R_NaString } {
        return Ok(None);
    }
    // SAFETY: `ch` is a CHARSXP of a protected vector.
    let encoding = unsafe { Rf_getCharCE(ch) };
    let ptr = match encoding {
        cetype_t::CE_BYTES => return Err("is marked \"bytes\": convert it with iconv() first"),
        cetype_t::CE_UTF8 => unsafe { R_CHAR(ch) },
        cetype_t::CE_NATIVE if native_is_utf8() => unsafe { R_CHAR(ch) },
        // latin1 (or native in another locale): R translates it; latin1 always converts.
        _ => unsafe { Rf_translateCharUTF8(ch) },
    };
    // SAFETY: R's strings are NUL-terminated and live while `strings` is protected.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes)
        .map(|s| Some(s.to_string()))
        .map_err(|_| "is not valid UTF-8 text: convert it with iconv() first")
}

/// Every element of a character vector (`None` for NA); an error says what is wrong.
pub(crate) fn strings(robj: &Robj) -> std::result::Result<Vec<Option<String>>, &'static str> {
    if robj.rtype() != Rtype::Strings {
        return Err("is not a character vector");
    }
    // SAFETY: `robj` holds (and protects) a STRSXP of `len` elements.
    let sexp = unsafe { robj.get() };
    (0..robj.len())
        .map(|i| unsafe { element(sexp, i as isize) })
        .collect()
}

/// A single string that is not NA.
pub(crate) fn single(robj: &Robj) -> std::result::Result<String, &'static str> {
    if robj.rtype() != Rtype::Strings || robj.len() != 1 {
        return Err("must be a single string (not NA)");
    }
    match strings(robj)?.pop().flatten() {
        Some(text) => Ok(text),
        None => Err("must be a single string (not NA)"),
    }
}

/// The names of a vector or list, if it has any.
pub(crate) fn names(robj: &Robj) -> std::result::Result<Option<Vec<Option<String>>>, &'static str> {
    match robj.get_attrib("names") {
        Some(names) if !names.is_null() => strings(&names).map(Some),
        _ => Ok(None),
    }
}
