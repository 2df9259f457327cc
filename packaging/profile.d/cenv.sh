# /etc/profile.d/cenv.sh — cenv for login shells (bash, sh; zsh through
# /etc/zsh/zprofile, see packaging/README.md).
#
# One exec of cenv prints everything that applies to this user: the `cenv`
# shell function (bash, zsh), `umask 027` for members of the config's
# login_umask_groups, and the activation of the user's default env
# (~/.config/cenv/default-env, or the config's default_envs for their group).
# Silent when nothing applies.
if [ -n "${BASH_VERSION-}" ]; then
    __cenv_shell=bash
elif [ -n "${ZSH_VERSION-}" ]; then
    __cenv_shell=zsh
else
    __cenv_shell=sh
fi
if __cenv_exe=$(command -v cenv 2>/dev/null) && [ -x "$__cenv_exe" ]; then
    eval "$("$__cenv_exe" login-init "$__cenv_shell")"
fi
unset __cenv_shell __cenv_exe
