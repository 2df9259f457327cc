//! `cenv usage` over a generated authpriv log: rotated and compressed parts,
//! both time formats rsyslog writes, cenv's runs, shells and refusals,
//! another program's lines, malformed and forged ones.

use super::*;

/// A run's line as cenv writes it, in rsyslog's RFC 3339 format.
fn run_line(time: &str, user: &str, env: &str) -> String {
    format!(
        "{time} gpu1 cenv[4242]: {user} : TTY=pts/0 ; ENV={env} ; PREFIX=/opt/miniconda/envs/{env} ; PWD=/home/{user} ; USER={user} ; UMASK=027 ; LANDLOCK=enforced (ABI 4) ; COMMAND=/opt/miniconda/envs/{env}/bin/python train.py\n"
    )
}

#[test]
fn usage_counts_cenvs_own_lines_over_rotated_and_compressed_logs() {
    let sb = shared(&["cv", "tf-old"], "");
    sb.mkdir("logs");
    // the newest file: RFC 3339 times, cenv's lines among sshd's and sudo's
    let mut current = String::new();
    current.push_str("2026-11-29T10:00:00.000001+00:00 gpu1 sshd[1]: Accepted publickey for alice\n");
    current.push_str(&run_line("2026-11-29T10:00:01.000000+00:00", "alice", "cv"));
    current.push_str(&run_line("2026-11-30T09:00:00.000000+00:00", "carol", "cv"));
    current.push_str("2026-11-30T09:00:01+00:00 gpu1 cenv[4243]: bob : command refused ; TTY=pts/1 ; ENV=cv ; REASON=not in group ai-researchers ; PWD=/home/bob ; COMMAND=python\n");
    current.push_str("2026-11-30T09:00:02+00:00 gpu1 cenv[4244]: alice : TTY=pts/0 ; ENV=cv ; PREFIX=/opt/miniconda/envs/cv ; PWD=/ ; USER=alice ; UMASK=- ; LANDLOCK=not applied (interactive shell) ; COMMAND=activate --shell bash\n");
    // sudo logs the command line with cenv in it: not a run of cenv's
    current.push_str("2026-11-30T09:00:03+00:00 gpu1 sudo[7]: alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/cenv run cv true\n");
    // tagged cenv but not cenv's format, and the rest of a split line
    current.push_str("2026-11-30T09:00:04+00:00 gpu1 cenv[9]: hello from logger\n");
    current.push_str("2026-11-30T09:00:05+00:00 gpu1 cenv[4242]: (command continued) more arguments\n");
    sb.write("logs/auth.log", &current);
    // last week's, rotated: the classic time format
    sb.write(
        "logs/auth.log.1",
        "Nov 20 08:00:00 gpu1 cenv[100]: dave : TTY=unknown ; ENV=cv ; PREFIX=/opt/miniconda/envs/cv ; PWD=/ ; USER=dave ; UMASK=027 ; LANDLOCK=enforced (ABI 4) ; COMMAND=/usr/bin/true\n",
    );
    // older still, compressed
    sb.write(
        "logs/auth.log.2",
        &run_line("2026-11-01T08:00:00+00:00", "alice", "other-env"),
    );
    let gz = Command::new("gzip")
        .arg("-n")
        .arg(sb.path("logs/auth.log.2"))
        .output()
        .unwrap();
    assert!(gz.status.success(), "{}", stderr(&gz));
    let logs: Vec<std::path::PathBuf> = ["auth.log", "auth.log.1", "auth.log.2.gz"]
        .iter()
        .map(|f| sb.path("logs").join(f))
        .collect();
    let usage = |extra: &[&str]| {
        let out = cenv_as(&sb, ALICE)
            .arg("usage")
            .arg("--log")
            .args(&logs)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let json: serde_json::Value = serde_json::from_slice(&usage(&["--json"]).stdout).unwrap();
    assert!(json["note"].as_str().unwrap().contains("not evidence"), "{json}");
    assert_eq!(json["not_cenvs_format"], 1, "{json}");
    let row = |json: &serde_json::Value, name: &str| {
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row {name}: {json}"))
    };
    let cv = row(&json, "cv");
    assert_eq!(
        (
            cv["runs"].as_u64(),
            cv["activations"].as_u64(),
            cv["refused"].as_u64(),
            cv["distinct"].as_u64()
        ),
        (Some(3), Some(1), Some(1), Some(3)),
        "{cv}"
    );
    assert_eq!(row(&json, "other-env")["runs"], 1);
    // an env of the roots with no line: unused
    let old = row(&json, "tf-old");
    assert_eq!(
        (old["runs"].as_u64(), old["unused"].as_bool()),
        (Some(0), Some(true)),
        "{old}"
    );
    // the window, one env, by user
    let json: serde_json::Value = serde_json::from_slice(
        &usage(&["--json", "--since", "2026-11-25", "--env", "cv", "--by", "user"]).stdout,
    )
    .unwrap();
    let users: Vec<&str> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "bob", "carol"], "{json}");
    assert_eq!(row(&json, "bob")["refused"], 1);
    let text = stdout(&usage(&["--until", "2026-11-25"]));
    assert!(
        text.starts_with("cenv usage: a picture of usage from the log, not evidence"),
        "{text}"
    );
    let cv_line = text
        .lines()
        .find(|l| l.starts_with("cv "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        cv_line.split_whitespace().nth(1) == Some("1"),
        "dave's run only: {text}"
    );
    // a log the caller may not read: said, with who may
    let closed = sb.write("logs/secure", &current);
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o600)).unwrap();
    let out = cenv_as(&sb, ALICE)
        .arg("usage")
        .arg("--log")
        .arg(&closed)
        .output()
        .unwrap();
    if is_root() {
        assert_eq!(out.status.code(), Some(125));
        assert!(
            stderr(&out).contains("permission denied") && stderr(&out).contains("adm group"),
            "{}",
            stderr(&out)
        );
    }
}
