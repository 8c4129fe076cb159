# CentOS distribution plugin for Retrace Server.
#
# Read as data by retrace-server-agent (never executed) and imported by the upstream
# Python worker, so it stays within plain literal assignments.
#
# CentOS Stream ($VER = 9, 10) is served from mirror.stream.centos.org as "<ver>-stream";
# CentOS Linux 7 lives on in vault.centos.org. Debuginfo of both comes from their own trees.
# rhel and centos both guess ".el<N>" from a package release; the agent reports that overlap,
# and the first plugin in file-name order (centos) wins, as an admin can see in
# `retrace-server-plugin-checker --lint`.
import re

distribution = "centos"
abrtparser = re.compile(r"^CentOS (?:Linux|Stream) release (\d+)(?:\.(\d+)\.(\d+))?(?: \(([^\)]+)\))?$")
guessparser = re.compile(r"\.el(\d+)")
displayrelease = "CentOS release"
gdb_package = "gdb"
gdb_executable = "/usr/bin/gdb"
versionlist = [
    "el7",
    "el8",
    "el9",
    "el10",
]

gpg_keys = [
    "/usr/share/distribution-gpg-keys/centos/RPM-GPG-KEY-CentOS-Official-SHA256",
    "/usr/share/distribution-gpg-keys/centos/RPM-GPG-KEY-CentOS-{release}",
]

repos = [
    [
        "https://mirror.stream.centos.org/$VER-stream/BaseOS/$ARCH/os/",
        "https://vault.centos.org/centos/$VER/os/$ARCH/",
    ],
    [
        "https://mirror.stream.centos.org/$VER-stream/AppStream/$ARCH/os/",
        "https://vault.centos.org/centos/$VER/updates/$ARCH/",
    ],
    [
        "https://mirror.stream.centos.org/$VER-stream/BaseOS/$ARCH/debug/tree/",
        "https://debuginfo.centos.org/$VER/$ARCH/",
    ],
    [
        "https://mirror.stream.centos.org/$VER-stream/AppStream/$ARCH/debug/tree/",
    ],
]
