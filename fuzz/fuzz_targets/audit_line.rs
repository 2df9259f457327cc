//! The audit line: whatever bytes go into its fields, the line has no
//! control character, every piece sent is at most 960 bytes, the pieces
//! join back into the line, and the line splits back into exactly the
//! original fields (invoker before " : ", fields between " ; ").
#![no_main]

use arbitrary::Arbitrary;
use cenv::audit::{field, invoker_field, split_line, Trail};
use cenv::system::escape::unescape;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Fields {
    invoker: Vec<u8>,
    tty: Vec<u8>,
    env: Vec<u8>,
    prefix: Vec<u8>,
    pwd: Vec<u8>,
    user: Vec<u8>,
    command: Vec<u8>,
}

fuzz_target!(|f: Fields| {
    let trail = Trail {
        invoker: invoker_field(&f.invoker),
        tty: field(&f.tty),
        env: field(&f.env),
        prefix: field(&f.prefix),
        pwd: field(&f.pwd),
        user: field(&f.user),
        umask: "027".into(),
        landlock: "enforced (ABI 7)".into(),
        command: field(&f.command),
        run_logged: false,
        job: String::new(),
        job_name: String::new(),
        // a notice adds a field; the count below is of a run without one
        notice: String::new(),
    };
    let line = trail.run_line();
    assert!(!line.chars().any(char::is_control), "{line:?}");
    let parts = split_line(&line);
    let mut joined = String::new();
    for (i, part) in parts.iter().enumerate() {
        assert!(part.len() <= 960);
        joined.push_str(if i == 0 { part } else { part.strip_prefix("(command continued) ").unwrap() });
    }
    assert_eq!(joined, line);
    let (invoker, rest) = line.split_once(" : ").expect("invoker separator");
    assert_eq!(unescape(invoker).as_deref(), Some(&f.invoker[..]));
    let fields: Vec<&str> = rest.split(" ; ").collect();
    assert_eq!(fields.len(), 8, "{line:?}");
    let expect = [
        ("TTY=", &f.tty),
        ("ENV=", &f.env),
        ("PREFIX=", &f.prefix),
        ("PWD=", &f.pwd),
        ("USER=", &f.user),
    ];
    for (got, (key, original)) in fields.iter().zip(expect) {
        let value = got.strip_prefix(key).expect("field key");
        assert_eq!(unescape(value).as_deref(), Some(&original[..]));
    }
    let command = fields[7].strip_prefix("COMMAND=").unwrap();
    assert_eq!(unescape(command).as_deref(), Some(&f.command[..]));
});
