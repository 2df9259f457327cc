//! The text `cenv shell-init SHELL` prints: a shell function named `cenv`
//! that evaluates what `cenv activate|deactivate --shell SHELL` prints and
//! passes every other subcommand to the binary, a prompt hook for fish, and
//! completion that also completes env names (from `cenv list --names`).
#![forbid(unsafe_code)]

use std::path::Path;

use super::{quote, Shell};

/// The subcommands a user is offered and each one's flags, from the clap
/// definition — the one source of truth, so completion cannot drift from
/// `--help` (tests/shells.rs checks it against every `--help`).
pub fn completion_words() -> Vec<(String, Vec<String>)> {
    use clap::CommandFactory;
    let mut command = crate::cli::Cli::command();
    command.build();
    let global: Vec<String> = command
        .get_arguments()
        .filter(|a| a.is_global_set() && !a.is_hide_set())
        .flat_map(flag_words)
        .collect();
    command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let mut flags: Vec<String> = c
                .get_arguments()
                .filter(|a| !a.is_positional() && !a.is_hide_set())
                .flat_map(flag_words)
                .collect();
            for word in global.iter().chain(["--help".to_owned(), "-h".to_owned()].iter()) {
                if !flags.contains(word) {
                    flags.push(word.clone());
                }
            }
            (c.get_name().to_owned(), flags)
        })
        .collect()
}

fn flag_words(arg: &clap::Arg) -> Vec<String> {
    let mut words: Vec<String> = arg.get_long().map(|l| format!("--{l}")).into_iter().collect();
    words.extend(arg.get_short().map(|s| format!("-{s}")));
    words
}

/// Subcommands that take an env name as their first word.
const TAKE_AN_ENV: &str = "run|activate|shell|info|verify|export|changes|diff|doctor|notebook";

/// The function (and completion) for `shell`, calling the binary at `exe`.
pub fn shell_init(shell: Shell, exe: &Path) -> String {
    let mut text = function(shell, exe);
    text.push_str(&completions(shell, &exe_word(shell, exe)));
    text
}

fn exe_word(shell: Shell, exe: &Path) -> String {
    String::from_utf8_lossy(&quote(shell, exe.as_os_str().as_encoded_bytes())).into_owned()
}

fn function(shell: Shell, exe: &Path) -> String {
    let exe = exe_word(shell, exe);
    match shell {
        Shell::Bash | Shell::Zsh => format!(
            r#"# cenv shell integration ({name}): eval "$(cenv shell-init {name})"
cenv() {{
    case "${{1-}}" in
        activate|deactivate)
            local __cenv_code __cenv_status
            __cenv_code="$(PS1="${{PS1-}}" {exe} "$1" --shell {name} "${{@:2}}")"
            __cenv_status=$?
            [ "$__cenv_status" -eq 0 ] || return "$__cenv_status"
            eval "$__cenv_code"
            ;;
        *)
            {exe} "$@"
            ;;
    esac
}}
"#,
            name = shell.name()
        ),
        Shell::Fish => format!(
            r#"# cenv shell integration (fish): cenv shell-init fish | source
function cenv --description 'cenv: run commands in shared conda envs'
    switch "$argv[1]"
        case activate deactivate
            set -l __cenv_code ({exe} $argv[1] --shell fish $argv[2..-1] | string collect)
            set -l __cenv_status $pipestatus[1]
            test $__cenv_status -eq 0; or return $__cenv_status
            printf '%s' "$__cenv_code" | source
        case '*'
            {exe} $argv
    end
end
# show CONDA_PROMPT_MODIFIER in front of the prompt, as conda's fish integration does
if functions -q fish_prompt; and not functions -q __cenv_fish_prompt_orig
    functions -c fish_prompt __cenv_fish_prompt_orig
    function fish_prompt
        if set -q CONDA_PROMPT_MODIFIER
            # shown, never obeyed: control, bidirectional and invisible
            # characters of an env's name or path become '?'
            printf '%s' (string replace -ra '[\x00-\x1f\x7f-\x9f\x{{ad}}\x{{61c}}\x{{180e}}\x{{200b}}-\x{{200f}}\x{{2028}}-\x{{202e}}\x{{2060}}-\x{{2064}}\x{{2066}}-\x{{2069}}\x{{feff}}]' '?' -- "$CONDA_PROMPT_MODIFIER")
        end
        __cenv_fish_prompt_orig
    end
end
"#
        ),
    }
}

/// Completion for `shell`: subcommands, their flags, shells, files, and env
/// names (from `CENV list --names`, where CENV is `cenv_word`: the path of
/// the binary for `shell-init`, `command cenv` for the files a package
/// installs, which must not name the machine they were built on).
pub fn completions(shell: Shell, cenv_word: &str) -> String {
    let words = completion_words();
    let subcommands: Vec<&str> = words.iter().map(|(s, _)| s.as_str()).collect();
    let subcommands = subcommands.join(" ");
    let exe = cenv_word;
    match shell {
        Shell::Bash => {
            let flag_cases: String = words
                .iter()
                .map(|(sub, flags)| format!("        {sub}) flags=\"{}\" ;;\n", flags.join(" ")))
                .collect();
            format!(
                r#"_cenv() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" sub="${{COMP_WORDS[1]-}}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=( $(compgen -W "{subcommands}" -- "$cur") )
        return
    fi
    local flags=""
    case "$sub" in
{flag_cases}    esac
    case "$prev" in
        -p|--prefix) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
        --user) COMPREPLY=( $(compgen -u -- "$cur") ); return ;;
        --shell) COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ); return ;;
        --config|--dir) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
        --umask) return ;;
    esac
    local i named=0
    for ((i = 2; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -p|--prefix) named=1; i=$((i + 1)) ;;
            --user|--umask|--shell|--config) i=$((i + 1)) ;;
            -*) ;;
            *) named=1 ;;
        esac
    done
    if [[ "$named" -eq 0 && "$cur" == -* ]]; then
        COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
        return
    fi
    case "$sub" in
        {TAKE_AN_ENV})
            if [ "$named" -eq 0 ]; then
                # no word list for compgen -W: it would expand $(...) in a
                # name; each name is compared as plain text instead
                local __cenv_env
                COMPREPLY=()
                while IFS= read -r __cenv_env; do
                    [[ "$__cenv_env" == "$cur"* ]] && COMPREPLY+=("$__cenv_env")
                done < <({exe} list --names 2>/dev/null)
            else
                COMPREPLY=( $(compgen -c -- "$cur") $(compgen -f -- "$cur") )
            fi
            ;;
        shell-init|completions) COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ) ;;
        check-config) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
    esac
}}
complete -F _cenv cenv
"#
            )
        }
        Shell::Zsh => {
            let flag_cases: String = words
                .iter()
                .map(|(sub, flags)| format!("        {sub}) flags=({}) ;;\n", flags.join(" ")))
                .collect();
            format!(
                r#"_cenv() {{
    if (( CURRENT == 2 )); then
        compadd -- {subcommands}
        return
    fi
    local -a flags
    case "$words[2]" in
{flag_cases}    esac
    local i named=0
    for (( i = 3; i < CURRENT; i++ )); do
        case "$words[i]" in
            -p|--prefix) named=1; (( i++ )) ;;
            --user|--umask|--shell|--config) (( i++ )) ;;
            -*) ;;
            *) named=1 ;;
        esac
    done
    if (( named == 0 )) && [[ "$PREFIX" == -* ]]; then
        compadd -- $flags
        return
    fi
    case "$words[2]" in
        {TAKE_AN_ENV})
            if (( named == 0 )); then
                compadd -- ${{(f)"$({exe} list --names 2>/dev/null)"}}
            else
                _files
            fi
            ;;
        shell-init|completions) compadd -- bash zsh fish ;;
        check-config) _files ;;
    esac
}}
(( ${{+functions[compdef]}} )) && compdef _cenv cenv
"#
            )
        }
        Shell::Fish => {
            let mut flag_lines = String::new();
            for (sub, flags) in &words {
                for flag in flags {
                    let option = match flag.strip_prefix("--") {
                        Some(long) => format!("-l {long}"),
                        None => format!("-s {}", flag.trim_start_matches('-')),
                    };
                    flag_lines.push_str(&format!(
                        "complete -c cenv -n '__fish_seen_subcommand_from {sub}' {option}\n"
                    ));
                }
            }
            format!(
                r#"function __cenv_needs_env
    set -l words (commandline -opc)
    set -e words[1 2]
    set -l skip 0
    for w in $words
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $w
            case -p --prefix
                return 1
            case --user --umask --shell --config
                set skip 1
            case '-*'
            case '*'
                return 1
        end
    end
    return 0
end
complete -c cenv -f
complete -c cenv -n __fish_use_subcommand -a '{subcommands}'
complete -c cenv -n '__fish_seen_subcommand_from {fish_env_subs}; and __cenv_needs_env' -a '({exe} list --names 2>/dev/null)'
complete -c cenv -n '__fish_seen_subcommand_from shell-init completions' -a 'bash zsh fish'
{flag_lines}"#,
                fish_env_subs = TAKE_AN_ENV.replace('|', " ")
            )
        }
    }
}
