# cenv (%preun): on erase ($1 = 0, not an upgrade), never leave a PAM
# service including /etc/pam.d/cenv-session, which the erase deletes: every
# session of that service would then fail (no su, no ssh, no cron).
# (grep -s, no 2>/dev/null: an image root without /dev runs this too)
if [ "$1" = 0 ]; then
    still=$(grep -ls '^[^#]*cenv-session' /etc/pam.d/* | grep -v '^/etc/pam.d/cenv-session$' || true)
    if [ -n "$still" ]; then
        echo "cenv: /etc/pam.d/cenv-session is still included by:" $still >&2
        echo "cenv: erasing the package would delete it, and every PAM session there would then fail." >&2
        echo "cenv: take those lines out first (paste the two lines of pam-README.md instead); not erasing." >&2
        exit 1
    fi
    # Jupyter kernels in the system places that start /usr/bin/cenv stop
    # working once it is gone: say which (users' own are theirs to remove)
    kernels=$(grep -ls '"/usr/bin/cenv"' /usr/local/share/jupyter/kernels/cenv-*/kernel.json /usr/share/jupyter/kernels/cenv-*/kernel.json || true)
    if [ -n "$kernels" ]; then
        echo "cenv: these Jupyter kernels run /usr/bin/cenv and will fail without it:" >&2
        for k in $kernels; do echo "cenv:   ${k%/kernel.json}" >&2; done
        echo "cenv: remove those directories, or reinstall cenv (cenv kernel sync then rewrites them)." >&2
    fi
fi
