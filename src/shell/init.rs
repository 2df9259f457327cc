//! The text `cenv shell-init SHELL` prints: a shell function named `cenv`
//! that evaluates what `cenv activate|deactivate --shell SHELL` prints and
//! passes every other subcommand to the binary, a prompt hook for fish, and
//! completion that also completes env names (from `cenv list --names`).
#![forbid(unsafe_code)]

use std::path::Path;

use super::{quote, Shell};

/// What the words after a subcommand's flags are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operands {
    /// `run`: an env, then a command (the env's own first), then its arguments (files).
    EnvThenCommand,
    /// One env (`info`, `shell`, ...).
    Env,
    /// Any number of envs (`doctor`, `changes`, `kernel install`).
    Envs,
    /// An env, then a file (`diff`).
    EnvThenFile,
    Files,
    Shells,
    Nothing,
}

/// How the value of an option is completed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Dirs,
    Files,
    Users,
    Words(Vec<String>),
    Free,
}

/// One (sub)command as completion sees it, from the clap definition — the
/// one source of truth, so completion cannot drift from `--help`
/// (tests/shells.rs checks it against every `--help`).
#[derive(Debug)]
struct Spec {
    /// `run`, or `kernel-install` for a nested one.
    key: String,
    flags: Vec<String>,
    /// The options that take a value, each with its words (`-p`, `--prefix`).
    values: Vec<(Vec<String>, Value)>,
    operands: Operands,
    /// Whether `-p/--prefix` names the env (then no env name follows).
    prefix_names_env: bool,
}

fn operands_of(key: &str) -> Operands {
    match key {
        "run" => Operands::EnvThenCommand,
        "activate" | "shell" | "info" | "verify" | "export" | "notebook" => Operands::Env,
        "changes" | "doctor" | "kernel-install" | "kernel-remove" => Operands::Envs,
        "diff" => Operands::EnvThenFile,
        "check-config" => Operands::Files,
        "shell-init" | "completions" => Operands::Shells,
        _ => Operands::Nothing,
    }
}

fn value_of(arg: &clap::Arg) -> Value {
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if !possible.is_empty() {
        return Value::Words(possible);
    }
    let value_name = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map(|n| n.to_string())
        .unwrap_or_default();
    match (arg.get_long().unwrap_or_default(), value_name.as_str()) {
        ("prefix" | "dir", _) | (_, "DIR") => Value::Dirs,
        (_, "PATH" | "FILE") => Value::Files,
        ("user", _) => Value::Users,
        _ => Value::Free,
    }
}

/// A subcommand with subcommands of its own (`kernel`), and their names.
type Nested = (String, Vec<String>);

/// The top-level subcommands offered, the nested ones of each, and the
/// spec of every (sub)command that takes words.
fn specs() -> (Vec<String>, Vec<Nested>, Vec<Spec>) {
    use clap::CommandFactory;
    let mut command = crate::cli::Cli::command();
    command.build();
    let global: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set() && !a.is_hide_set())
        .collect();
    let spec = |key: String, c: &clap::Command| {
        let mut flags: Vec<String> = Vec::new();
        let mut values = Vec::new();
        let own = c
            .get_arguments()
            .filter(|a| !a.is_positional() && !a.is_hide_set());
        for arg in own.chain(global.iter().copied()) {
            let words = flag_words(arg);
            if words.iter().all(|w| flags.contains(w)) {
                continue;
            }
            if arg.get_action().takes_values() {
                values.push((words.clone(), value_of(arg)));
            }
            flags.extend(words);
        }
        for word in ["--help", "-h"] {
            if !flags.iter().any(|f| f == word) {
                flags.push(word.to_owned());
            }
        }
        let prefix_names_env = c.get_arguments().any(|a| a.get_short() == Some('p'));
        Spec {
            operands: operands_of(&key),
            key,
            flags,
            values,
            prefix_names_env,
        }
    };
    let mut top = Vec::new();
    let mut nested = Vec::new();
    let mut specs = Vec::new();
    for c in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        top.push(c.get_name().to_owned());
        let children: Vec<&clap::Command> = c
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .collect();
        if children.is_empty() {
            specs.push(spec(c.get_name().to_owned(), c));
        } else {
            nested.push((
                c.get_name().to_owned(),
                children.iter().map(|s| s.get_name().to_owned()).collect(),
            ));
            for child in children {
                specs.push(spec(format!("{}-{}", c.get_name(), child.get_name()), child));
            }
        }
    }
    (top, nested, specs)
}

fn flag_words(arg: &clap::Arg) -> Vec<String> {
    let mut words: Vec<String> = arg.get_long().map(|l| format!("--{l}")).into_iter().collect();
    words.extend(arg.get_short().map(|s| format!("-{s}")));
    words
}

fn operands_word(operands: Operands) -> &'static str {
    match operands {
        Operands::EnvThenCommand => "run",
        Operands::Env => "env",
        Operands::Envs => "envs",
        Operands::EnvThenFile => "envfile",
        Operands::Files => "files",
        Operands::Shells => "shells",
        Operands::Nothing => "none",
    }
}

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

/// Completion for `shell`: subcommands (nested ones too), their flags and
/// option values, env names (from `CENV list --names`), and for `run ENV`
/// the env's own commands first (`CENV list --commands ENV`), then the
/// others, without duplicates. CENV is `cenv_word`: the path of the binary
/// for `shell-init`, `command cenv` for the files a package installs, which
/// must not name the machine they were built on.
pub fn completions(shell: Shell, cenv_word: &str) -> String {
    let (top, nested, specs) = specs();
    let exe = cenv_word;
    let top = top.join(" ");
    match shell {
        Shell::Bash => bash_completion(exe, &top, &nested, &specs),
        Shell::Zsh => zsh_completion(exe, &top, &nested, &specs),
        Shell::Fish => fish_completion(exe, &top, &nested, &specs),
    }
}

fn bash_completion(exe: &str, top: &str, nested: &[Nested], specs: &[Spec]) -> String {
    let mut nested_cases = String::new();
    for (parent, children) in nested {
        nested_cases.push_str(&format!(
            "        {parent})\n            if [ \"$COMP_CWORD\" -eq 2 ]; then\n                COMPREPLY=( $(compgen -W \"{}\" -- \"$cur\") )\n                return\n            fi\n            sub=\"{parent}-${{COMP_WORDS[2]}}\"; first=3 ;;\n",
            children.join(" ")
        ));
    }
    let mut spec_cases = String::new();
    let mut value_cases = String::new();
    for spec in specs {
        let values: Vec<&str> = spec
            .values
            .iter()
            .flat_map(|(w, _)| w.iter().map(String::as_str))
            .collect();
        spec_cases.push_str(&format!(
            "        {}) flags=\"{}\"; values=\" {} \"; kind={}; hasp={} ;;\n",
            spec.key,
            spec.flags.join(" "),
            values.join(" "),
            operands_word(spec.operands),
            u8::from(spec.prefix_names_env)
        ));
        for (words, value) in &spec.values {
            let action = match value {
                Value::Dirs => "COMPREPLY=( $(compgen -d -- \"$cur\") )".to_owned(),
                Value::Files => "COMPREPLY=( $(compgen -f -- \"$cur\") )".to_owned(),
                Value::Users => "COMPREPLY=( $(compgen -u -- \"$cur\") )".to_owned(),
                Value::Words(w) => format!("COMPREPLY=( $(compgen -W \"{}\" -- \"$cur\") )", w.join(" ")),
                Value::Free => "COMPREPLY=()".to_owned(),
            };
            value_cases.push_str(&format!(
                "        {}\\ {}) {action}; return ;;\n",
                spec.key,
                words.join(&format!("|{}\\ ", spec.key))
            ));
        }
    }
    format!(
        r#"# the env's own commands first, then every other, each once
__cenv_commands() {{
    local c
    local -A seen=()
    COMPREPLY=()
    while IFS= read -r c; do
        # bash inserts a candidate as it is: only names that are one plain word
        [[ "$c" =~ ^[A-Za-z0-9._+@%,:=-]+$ && "$c" == "$cur"* && -z "${{seen[$c]-}}" ]] || continue
        seen[$c]=1
        COMPREPLY+=("$c")
    done < <(if [ -n "$2" ]; then
                 for c in "$2"/bin/*; do [ -x "$c" ] && [ ! -d "$c" ] && printf '%s\n' "${{c##*/}}"; done
             else
                 {exe} list --commands "$1" 2>/dev/null
             fi)
    while IFS= read -r c; do
        [[ -z "${{seen[$c]-}}" ]] || continue
        seen[$c]=1
        COMPREPLY+=("$c")
    done < <(compgen -c -- "$cur")
    compopt -o nosort 2>/dev/null
}}
_cenv() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" sub="${{COMP_WORDS[1]-}}" first=2
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=( $(compgen -W "{top}" -- "$cur") )
        return
    fi
    case "$sub" in
{nested_cases}    esac
    local flags="" values=" " kind=none hasp=0
    case "$sub" in
{spec_cases}    esac
    case "$sub $prev" in
{value_cases}    esac
    # the words so far: the env (a name, or a prefix with -p), then the rest
    local i w npos=0 env="" envp=""
    for ((i = first; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        if [[ "$values" == *" $w "* ]]; then
            if [[ "$hasp" -eq 1 && ( "$w" == -p || "$w" == --prefix ) ]]; then envp="${{COMP_WORDS[i+1]-}}"; fi
            i=$((i + 1))
            continue
        fi
        case "$w" in
            --) ;;
            -*) [ "$kind" = run ] && [ "$npos" -gt 0 -o -n "$envp" ] && npos=$((npos + 1)) ;;
            *) [ "$npos" -eq 0 ] && env="$w"; npos=$((npos + 1)) ;;
        esac
    done
    # words after the env: with -p there is no env name among them
    local after=$npos
    [ -z "$envp" ] && [ "$npos" -gt 0 ] && after=$((npos - 1))
    if [[ "$cur" == -* ]] && ! [[ "$kind" = run && ( -n "$env" || -n "$envp" ) ]]; then
        COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
        return
    fi
    case "$kind" in
        run|env|envfile|envs)
            if [[ "$kind" = envs || ( -z "$envp" && "$npos" -eq 0 ) ]]; then
                # no word list for compgen -W: it would expand $(...) in a
                # name; each name is compared as plain text instead
                local __cenv_env
                COMPREPLY=()
                while IFS= read -r __cenv_env; do
                    [[ "$__cenv_env" == "$cur"* ]] && COMPREPLY+=("$__cenv_env")
                done < <({exe} list --names 2>/dev/null)
            elif [ "$kind" = run ] && [ "$after" -eq 0 ]; then
                __cenv_commands "$env" "$envp"
            elif [ "$kind" = run ] || [ "$kind" = envfile ]; then
                COMPREPLY=( $(compgen -f -- "$cur") )
            fi
            ;;
        files) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
        shells) [ "$npos" -eq 0 ] && COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ) ;;
    esac
}}
complete -F _cenv cenv
"#
    )
}

fn zsh_completion(exe: &str, top: &str, nested: &[Nested], specs: &[Spec]) -> String {
    let mut nested_cases = String::new();
    for (parent, children) in nested {
        nested_cases.push_str(&format!(
            "        {parent})\n            if (( CURRENT == 3 )); then\n                compadd -- {}\n                return\n            fi\n            sub=\"{parent}-$words[3]\"; first=4 ;;\n",
            children.join(" ")
        ));
    }
    let mut spec_cases = String::new();
    let mut value_cases = String::new();
    for spec in specs {
        let values: Vec<&str> = spec
            .values
            .iter()
            .flat_map(|(w, _)| w.iter().map(String::as_str))
            .collect();
        spec_cases.push_str(&format!(
            "        {}) flags=({}); values=({}); kind={}; hasp={} ;;\n",
            spec.key,
            spec.flags.join(" "),
            values.join(" "),
            operands_word(spec.operands),
            u8::from(spec.prefix_names_env)
        ));
        for (words, value) in &spec.values {
            let action = match value {
                Value::Dirs => "_files -/".to_owned(),
                Value::Files => "_files".to_owned(),
                Value::Users => "_users".to_owned(),
                Value::Words(w) => format!("compadd -- {}", w.join(" ")),
                Value::Free => ":".to_owned(),
            };
            value_cases.push_str(&format!(
                "        {}\\ {}) {action}; return ;;\n",
                spec.key,
                words.join(&format!("|{}\\ ", spec.key))
            ));
        }
    }
    format!(
        r#"#compdef cenv
# the env's own commands first, then every other, each once
__cenv_commands() {{
    local -a envcmds others
    if [[ -n $2 ]]; then
        envcmds=( "$2"/bin/*(N-*:t) )
    else
        envcmds=( ${{(f)"$({exe} list --commands "$1" 2>/dev/null)"}} )
    fi
    others=( ${{(k)commands}} )
    others=( ${{others:|envcmds}} )
    compadd -J env-commands -- $envcmds
    compadd -J commands -- $others
}}
_cenv() {{
    emulate -L zsh
    local sub="$words[2]" first=3
    if (( CURRENT == 2 )); then
        compadd -- {top}
        return
    fi
    case "$sub" in
{nested_cases}    esac
    local -a flags values
    local kind=none hasp=0
    case "$sub" in
{spec_cases}    esac
    case "$sub $words[CURRENT-1]" in
{value_cases}    esac
    local i w npos=0 env= envp=
    for (( i = first; i < CURRENT; i++ )); do
        w="$words[i]"
        if (( ${{values[(Ie)$w]}} )); then
            if (( hasp )) && [[ $w == -p || $w == --prefix ]]; then envp="$words[i+1]"; fi
            (( i++ ))
            continue
        fi
        case "$w" in
            --) ;;
            -*) [[ $kind == run ]] && (( npos > 0 )) || [[ $kind == run && -n $envp ]] && (( npos++ )) ;;
            *) (( npos == 0 )) && env="$w"; (( npos++ )) ;;
        esac
    done
    local after=$npos
    [[ -z $envp ]] && (( npos > 0 )) && (( after = npos - 1 ))
    if [[ "$PREFIX" == -* ]] && ! [[ $kind == run && ( -n $env || -n $envp ) ]]; then
        compadd -- $flags
        return
    fi
    case "$kind" in
        run|env|envfile|envs)
            if [[ $kind == envs ]] || {{ [[ -z $envp ]] && (( npos == 0 )) }}; then
                compadd -- ${{(f)"$({exe} list --names 2>/dev/null)"}}
            elif [[ $kind == run ]] && (( after == 0 )); then
                __cenv_commands "$env" "$envp"
            elif [[ $kind == run || $kind == envfile ]]; then
                _files
            fi
            ;;
        files) _files ;;
        shells) (( npos == 0 )) && compadd -- bash zsh fish ;;
    esac
}}
# loaded by compinit from this file (#compdef): complete now; evaluated
# (shell-init, a login shell): register, now or once compinit has run
if [[ "${{funcstack[1]-}}" == _cenv ]]; then
    _cenv "$@"
elif (( ${{+functions[compdef]}} )); then
    compdef _cenv cenv
else
    __cenv_compdef() {{
        (( ${{+functions[compdef]}} )) && compdef _cenv cenv
        precmd_functions=( ${{precmd_functions:#__cenv_compdef}} )
        unfunction __cenv_compdef
    }}
    precmd_functions+=( __cenv_compdef )
fi
"#
    )
}

fn fish_completion(exe: &str, top: &str, nested: &[Nested], specs: &[Spec]) -> String {
    let mut lines = String::new();
    for (parent, children) in nested {
        lines.push_str(&format!(
            "complete -c cenv -n '__fish_seen_subcommand_from {parent}; and not __fish_seen_subcommand_from {0}' -a '{0}'\n",
            children.join(" ")
        ));
    }
    for spec in specs {
        let condition = match spec
            .key
            .split_once('-')
            .filter(|(p, _)| nested.iter().any(|(n, _)| n == p))
        {
            Some((parent, child)) => {
                format!("__fish_seen_subcommand_from {parent}; and __fish_seen_subcommand_from {child}")
            }
            None => format!("__fish_seen_subcommand_from {}", spec.key),
        };
        for flag in &spec.flags {
            let value = spec.values.iter().find(|(w, _)| w.contains(flag)).map(|(_, v)| v);
            let option = match flag.strip_prefix("--") {
                Some(long) => format!("-l {long}"),
                None => format!("-s {}", flag.trim_start_matches('-')),
            };
            let takes = match value {
                None => String::new(),
                Some(Value::Dirs) => " -r -F -a '(__fish_complete_directories)'".to_owned(),
                Some(Value::Files) => " -r -F".to_owned(),
                Some(Value::Users) => " -r -a '(__fish_complete_users)'".to_owned(),
                Some(Value::Words(w)) => format!(" -r -a '{}'", w.join(" ")),
                Some(Value::Free) => " -r".to_owned(),
            };
            lines.push_str(&format!("complete -c cenv -n '{condition}' {option}{takes}\n"));
        }
        let operand = match spec.operands {
            Operands::Env | Operands::EnvThenFile | Operands::EnvThenCommand => {
                format!("complete -c cenv -n '{condition}; and __cenv_needs_env' -a '(__cenv_bin list --names 2>/dev/null)'\n")
            }
            Operands::Envs => {
                format!("complete -c cenv -n '{condition}' -a '(__cenv_bin list --names 2>/dev/null)'\n")
            }
            Operands::Files => format!("complete -c cenv -n '{condition}' -F\n"),
            Operands::Shells => format!("complete -c cenv -n '{condition}' -a 'bash zsh fish'\n"),
            Operands::Nothing => String::new(),
        };
        lines.push_str(&operand);
        match spec.operands {
            Operands::EnvThenCommand => lines.push_str(&format!(
                "complete -c cenv -n '{condition}; and __cenv_wants_command' -k -a '(__cenv_commands)'\n\
                 complete -c cenv -n '{condition}; and __cenv_after_command' -F\n"
            )),
            Operands::EnvThenFile => lines.push_str(&format!(
                "complete -c cenv -n '{condition}; and not __cenv_needs_env' -F\n"
            )),
            _ => {}
        }
    }
    format!(
        r#"# the binary, quoted once here: never inside another quoted string
function __cenv_bin
    {exe} $argv
end
# the words after the subcommand: prints the env (a name, or a prefix
# after -p) and how many operand words there are after it
function __cenv_operands
    set -l words (commandline -opc)
    set -e words[1 2]
    set -l skip 0
    set -l want 0
    set -l env ''
    set -l prefix ''
    set -l after 0
    for w in $words
        if test $skip -eq 1
            set skip 0
            continue
        end
        if test $want -eq 1
            set want 0
            set prefix $w
            continue
        end
        if test "$w" = --
            continue
        end
        if test -n "$env$prefix"
            set after (math $after + 1)
            continue
        end
        switch $w
            case -p --prefix
                set want 1
            case --user --umask --shell --config --format
                set skip 1
            case '-*'
            case '*'
                set env $w
        end
    end
    printf '%s\n%s\n%s\n' "$env" "$prefix" $after
end
function __cenv_needs_env
    set -l o (__cenv_operands)
    test -z "$o[1]$o[2]"
end
function __cenv_wants_command
    set -l o (__cenv_operands)
    test -n "$o[1]$o[2]"; and test "$o[3]" -eq 0
end
function __cenv_after_command
    set -l o (__cenv_operands)
    test -n "$o[1]$o[2]"; and test "$o[3]" -gt 0
end
# the env's own commands first, then every other, each once
function __cenv_commands
    set -l o (__cenv_operands)
    set -l own
    if test -n "$o[2]"
        for f in $o[2]/bin/*
            test -x $f; and not test -d $f; and set -a own (basename $f)
        end
    else
        set own (__cenv_bin list --commands $o[1] 2>/dev/null)
    end
    printf '%s\n' $own
    for c in (complete -C (commandline -ct) | string replace -r '\t.*' '')
        contains -- $c $own; or printf '%s\n' $c
    end
end
complete -c cenv -f
complete -c cenv -n __fish_use_subcommand -a '{top}'
{lines}"#
    )
}
