//! The text `cenv shell-init SHELL` prints: a shell function named `cenv`
//! that evaluates what `cenv activate|deactivate --shell SHELL` prints and
//! passes every other subcommand to the binary, a prompt hook for fish, and
//! completion that also completes env names (from `cenv list --names`).
#![forbid(unsafe_code)]

use std::path::Path;

use super::{quote, Shell};

const SUBCOMMANDS: &str = "run activate deactivate shell list check-config shell-init completions login-init";

/// The function (and completion) for `shell`, calling the binary at `exe`.
pub fn shell_init(shell: Shell, exe: &Path) -> String {
    let mut text = function(shell, exe);
    text.push_str(&completions(shell, exe));
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
            printf '%s' "$CONDA_PROMPT_MODIFIER"
        end
        __cenv_fish_prompt_orig
    end
end
"#
        ),
    }
}

/// Completion for `shell`: subcommands, options, shells, files, and env names.
pub fn completions(shell: Shell, exe: &Path) -> String {
    let exe = exe_word(shell, exe);
    match shell {
        Shell::Bash => format!(
            r#"_cenv() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" sub="${{COMP_WORDS[1]-}}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=( $(compgen -W "{SUBCOMMANDS}" -- "$cur") )
        return
    fi
    case "$sub" in
        run|activate|shell|info)
            case "$prev" in
                -p|--prefix) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
                --user) COMPREPLY=( $(compgen -u -- "$cur") ); return ;;
                --shell) COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ); return ;;
                --umask) return ;;
            esac
            local i named=0
            for ((i = 2; i < COMP_CWORD; i++)); do
                case "${{COMP_WORDS[i]}}" in
                    -p|--prefix) named=1; i=$((i + 1)) ;;
                    --user|--umask|--shell) i=$((i + 1)) ;;
                    -*) ;;
                    *) named=1 ;;
                esac
            done
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
        shell-init|completions|login-init) COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ) ;;
        check-config) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
    esac
}}
complete -F _cenv cenv
"#
        ),
        Shell::Zsh => format!(
            r#"_cenv() {{
    if (( CURRENT == 2 )); then
        compadd -- {SUBCOMMANDS}
        return
    fi
    case "$words[2]" in
        run|activate|shell|info)
            local i named=0
            for (( i = 3; i < CURRENT; i++ )); do
                case "$words[i]" in
                    -p|--prefix) named=1; (( i++ )) ;;
                    --user|--umask|--shell) (( i++ )) ;;
                    -*) ;;
                    *) named=1 ;;
                esac
            done
            if (( named == 0 )); then
                compadd -- ${{(f)"$({exe} list --names 2>/dev/null)"}}
            else
                _files
            fi
            ;;
        shell-init|completions|login-init) compadd -- bash zsh fish ;;
        check-config) _files ;;
    esac
}}
(( $+functions[compdef] )) && compdef _cenv cenv
"#
        ),
        Shell::Fish => format!(
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
            case --user --umask --shell
                set skip 1
            case '-*'
            case '*'
                return 1
        end
    end
    return 0
end
complete -c cenv -f
complete -c cenv -n __fish_use_subcommand -a '{SUBCOMMANDS}'
complete -c cenv -n '__fish_seen_subcommand_from run activate shell info; and __cenv_needs_env' -a '({exe} list --names 2>/dev/null)'
complete -c cenv -n '__fish_seen_subcommand_from shell-init completions login-init' -a 'bash zsh fish'
"#
        ),
    }
}
