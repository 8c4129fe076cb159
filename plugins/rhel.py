# Red Hat Enterprise Linux distribution plugin for Retrace Server.
#
# Read as data by retrace-server-agent (never executed) and imported by the upstream
# Python worker, so it stays within plain literal assignments.
#
# RHEL content needs a subscription, so the mirrors are local directories that an
# entitled host fills (reposync from the CDN or a Satellite export). Change the paths
# to where your copies live; a path may use a glob such as Packages/*/*.rpm.
import re
from typing import List

distribution = "rhel"
abrtparser = re.compile(r"^Red Hat Enterprise Linux(?:\s\w+)? release (\d+)(?:\.(\d+))?(?:\s\w+)?\s?\(.*\)$")
guessparser = re.compile(r"\.el(\d+)")
displayrelease = "Red Hat Enterprise Linux release"
gdb_package = "gdb"
gdb_executable = "/usr/bin/gdb"
versionlist = [
    "el7",
    "el8",
    "el9",
    "el10",
]

gpg_keys = [
    "/usr/share/distribution-gpg-keys/redhat/RPM-GPG-KEY-redhat{release}-release",
]

repos: List[List[str]] = [
    ["/srv/retrace/mirror/rhel-$VER-$ARCH/baseos"],
    ["/srv/retrace/mirror/rhel-$VER-$ARCH/appstream"],
    ["/srv/retrace/mirror/rhel-$VER-$ARCH/baseos-debug"],
    ["/srv/retrace/mirror/rhel-$VER-$ARCH/appstream-debug"],
]
