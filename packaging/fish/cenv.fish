# /usr/share/fish/vendor_conf.d/cenv.fish — cenv for fish login shells.
#
# One exec of cenv prints the `cenv` function, the login umask for members of
# the config's login_umask_groups and the activation of the user's default
# env, if any. Silent when nothing applies. Interactive non-login shells can
# add `cenv shell-init fish | source` to ~/.config/fish/config.fish.
if status is-login; and command -q cenv
    command cenv login-init fish | source
end
