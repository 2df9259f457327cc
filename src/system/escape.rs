//! Making untrusted bytes safe to show: in the audit log, and on a terminal.
//!
//! Paths, env names, variable values and arguments come from users and from
//! files in shared envs. Shown raw, a newline fakes a line (`trust check:
//! trusted`) and an escape sequence retitles or clears an admin's terminal.
//! [`escape`] turns every control character (C0, DEL, C1), every character
//! that reorders or hides text (bidirectional controls, zero-width
//! characters: `env-a\u{202e}lmx` would show as another name), every byte
//! that is not UTF-8 and the backslash itself into `\xNN` / `\\`, so the
//! result is printable, unambiguous and reversible. JSON output never goes through it:
//! it is exact by construction.
#![forbid(unsafe_code)]

use std::ffi::OsStr;
use std::fmt::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Escapes backslash, control characters (C0, DEL, C1), characters that
/// reorder or hide text and bytes that are not UTF-8 as `\\` and `\xNN`;
/// everything else is kept.
pub fn escape(bytes: &[u8]) -> String {
    // printable ASCII but the backslash — nearly every name and path — is
    // itself
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() || reorders_or_hides(c) => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Characters a terminal shows as nothing, or that change the order in
/// which the characters around them are shown: bidirectional embeddings,
/// overrides, isolates and marks; zero-width spaces and joiners; the soft
/// hyphen; line and paragraph separators; the byte order mark.
fn reorders_or_hides(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// [`escape`] for a string that needs no escaping in the common case.
pub fn text(s: &str) -> String {
    escape(s.as_bytes())
}

/// [`escape`] for a path.
pub fn path(p: &Path) -> String {
    escape(p.as_os_str().as_bytes())
}

/// [`escape`] for an OS string.
pub fn os(s: &OsStr) -> String {
    escape(s.as_bytes())
}

/// Reverses [`escape`]; None when the text is not something it produced.
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1)? {
            b'\\' => {
                out.push(b'\\');
                i += 2;
            }
            b'x' => {
                let hex = std::str::from_utf8(bytes.get(i + 2..i + 4)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_backslash_and_invalid_utf8() {
        assert_eq!(escape(b"plain text"), "plain text");
        assert_eq!(escape(b"a\nb"), "a\\x0ab");
        assert_eq!(escape(b"\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(escape(b"back\\slash"), "back\\\\slash");
        assert_eq!(escape(b"caf\xe9"), "caf\\xe9");
        assert_eq!(escape("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape("\u{9b}x".as_bytes()), "\\xc2\\x9bx");
    }

    #[test]
    fn bidirectional_and_invisible_characters_are_escaped() {
        // "env-a" + RIGHT-TO-LEFT OVERRIDE + "lmx": shown as "env-axml"
        assert_eq!(escape("env-a\u{202e}lmx".as_bytes()), "env-a\\xe2\\x80\\xaelmx");
        assert_eq!(escape("a\u{200b}b".as_bytes()), "a\\xe2\\x80\\x8bb");
        assert_eq!(
            escape("\u{2066}x\u{2069}".as_bytes()),
            "\\xe2\\x81\\xa6x\\xe2\\x81\\xa9"
        );
        assert_eq!(escape("naïve é 日本".as_bytes()), "naïve é 日本");
        assert_eq!(
            unescape(&escape("a\u{202e}b".as_bytes())).unwrap(),
            "a\u{202e}b".as_bytes()
        );
    }

    #[test]
    fn unescape_reverses_escape() {
        for sample in [
            &b"a\nb\\c\xff\x1b]0;t\x07"[..],
            b"",
            b"\\x41",
            "\u{85}é".as_bytes(),
        ] {
            assert_eq!(unescape(&escape(sample)).as_deref(), Some(sample));
        }
        assert_eq!(unescape("\\q"), None);
    }
}
