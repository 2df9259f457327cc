//! Shell quoting: for any bytes, the word cenv writes for bash/zsh (POSIX
//! single quotes) and for fish evaluates back to exactly those bytes under
//! each shell's quoting rules (modelled here; tests/shells.rs checks a
//! sample in the real shells).
#![no_main]

use cenv::shell::{quote, Shell};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let posix = quote(Shell::Bash, data);
    assert_eq!(posix_unquote(&posix).as_deref(), Some(data), "{posix:?}");
    let fish = quote(Shell::Fish, data);
    assert_eq!(fish_unquote(&fish).as_deref(), Some(data), "{fish:?}");
});

/// A word made of single-quoted strings and `\'`, as POSIX shells read it.
fn posix_unquote(word: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < word.len() {
        match word[i] {
            b'\'' => {
                let end = i + 1 + word[i + 1..].iter().position(|&b| b == b'\'')?;
                out.extend_from_slice(&word[i + 1..end]);
                i = end + 1;
            }
            b'\\' => {
                out.push(*word.get(i + 1)?);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A fish word: single-quoted strings (where only `\\` and `\'` are escapes)
/// and, outside quotes, `\XHH` for a raw byte.
fn fish_unquote(word: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < word.len() {
        match word[i] {
            b'\'' => {
                i += 1;
                loop {
                    match *word.get(i)? {
                        b'\'' => break,
                        b'\\' if matches!(word.get(i + 1), Some(b'\\' | b'\'')) => {
                            out.push(word[i + 1]);
                            i += 2;
                        }
                        b => {
                            out.push(b);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            b'\\' if word.get(i + 1) == Some(&b'X') => {
                let hex = std::str::from_utf8(word.get(i + 2..i + 4)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}
