# Add to /etc/zsh/zprofile: Debian's zsh does not read /etc/profile, so a zsh
# login shell picks up cenv's login integration through this line.
[ -r /etc/profile.d/cenv.sh ] && . /etc/profile.d/cenv.sh
