//! `cenv list` and `cenv info`.

use super::*;

#[test]
fn list_shows_python_owner_and_whether_you_may_use_it() {
    require_root!();
    let sb = shared(&["cv", "nlp"], &format!("[envs.nlp]\nusers = [\"{BOB}\"]\n"));
    let out = cenv_as(&sb, ALICE).arg("list").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let cv = text.lines().find(|l| l.starts_with("cv ")).unwrap();
    assert!(
        cv.contains("3.11.2") && cv.contains(&format!("{ADMIN}:{RESEARCH}")) && cv.ends_with("yes"),
        "{text}"
    );
    let nlp = text.lines().find(|l| l.starts_with("nlp ")).unwrap();
    assert!(nlp.ends_with("no: not in the users list"), "{text}");
    let json = cenv_as(&sb, ALICE).args(["list", "--json"]).output().unwrap();
    snapshot("list.json", &stdout(&json), &[(&root_str(&sb), "<root>")]);
}

#[test]
fn list_and_info_show_the_refusal_reason_to_someone_outside_the_group() {
    require_root!();
    let sb = shared(&["cv"], &format!("[envs.cv]\ngroups = [\"{RESEARCH}\"]\n"));
    // bob cannot even list the envs root (2750): the policy still answers
    let out = cenv_as(&sb, BOB).arg("list").output().unwrap();
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("cv ") && l.ends_with(&format!("no: not in group {RESEARCH}"))),
        "{text}"
    );
    let out = cenv_as(&sb, BOB).args(["info", "cv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(&format!(
            "{BOB} may not use env 'cv': it is open to the group {RESEARCH}"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn info_shows_everything_about_an_env() {
    require_root!();
    let sb = shared(
        &["cv"],
        &format!("[envs.cv]\ngroups = [\"{RESEARCH}\"]\numask = \"077\"\n"),
    );
    sb.write(
        "envs/cv/conda-meta/state",
        r#"{"env_vars": {"DATA": "/data/cv"}}"#,
    );
    sb.write("envs/cv/etc/conda/activate.d/x.sh", "true\n");
    sb.write(
        "envs/cv/conda-meta/history",
        "==> 2026-01-02 03:04:05 <==\n# cmd: conda create -n cv python\n+defaults::python-3.11.2\n",
    );
    sb.write("envs/cv/conda-meta/numpy-1.26.4-py311_0.json", "{}");
    chown_tree(&sb.path("envs/cv"), user(ADMIN).uid, group_gid(RESEARCH));
    set_shared_modes(&sb.path("envs/cv"));
    let out = cenv_as(&sb, ALICE).args(["info", "cv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        format!("owner:group:     {ADMIN}:{RESEARCH}"),
        "mode:            2750".to_owned(),
        format!("[envs.cv] groups: {RESEARCH}"),
        "umask:           077".into(),
        "packages:        2".into(),
        "python:          3.11.2".into(),
        "env vars:        DATA=/data/cv".into(),
        "trust check:     trusted".into(),
        "last change:     2026-01-02 03:04:05 conda create -n cv python".into(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in\n{text}");
    }
    let json = cenv_as(&sb, ALICE)
        .args(["info", "--json", "cv"])
        .output()
        .unwrap();
    snapshot("info.json", &stdout(&json), &[(&root_str(&sb), "<root>")]);
}
