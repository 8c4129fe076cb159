# Fedora distribution plugin for Retrace Server.
#
# Read as data by retrace-server-agent (never executed) and imported by the upstream
# Python worker, so it stays within plain literal assignments.
#
# Mirrors are tried in order per repo. The rsync URLs follow the Fedora master mirror
# layout (module fedora-enchilada); packages sit in one-letter subdirectories, hence the
# Packages/*/*.rpm glob, which the rsync daemon expands. The https URLs are repo roots
# with repodata/, read natively; archives.fedoraproject.org keeps end-of-life releases.
import re

distribution = "fedora"
abrtparser = re.compile(r"^Fedora release ([0-9]+) \(([^\)]+)\)$")
guessparser = re.compile(r"\.fc([0-9]+)")
displayrelease = "Fedora release"
gdb_package = "gdb"
gdb_executable = "/usr/bin/gdb"
versionlist = [
    "fc38",
    "fc39",
    "fc40",
    "fc41",
    "fc42",
    "fc43",
]

# {release} is the Fedora version; distribution-gpg-keys ships one key per release.
gpg_keys = [
    "/usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-{release}-primary",
]

repos = [
    # the release tree as it was at GA
    [
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/releases/$VER/Everything/$ARCH/os/Packages/*/*.rpm",
        "https://dl.fedoraproject.org/pub/fedora/linux/releases/$VER/Everything/$ARCH/os/",
        "https://archives.fedoraproject.org/pub/archive/fedora/linux/releases/$VER/Everything/$ARCH/os/",
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/development/$VER/Everything/$ARCH/os/Packages/*/*.rpm",
    ],
    # debuginfo of the release tree
    [
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/releases/$VER/Everything/$ARCH/debug/tree/Packages/*/*.rpm",
        "https://dl.fedoraproject.org/pub/fedora/linux/releases/$VER/Everything/$ARCH/debug/tree/",
        "https://archives.fedoraproject.org/pub/archive/fedora/linux/releases/$VER/Everything/$ARCH/debug/tree/",
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/development/$VER/Everything/$ARCH/debug/tree/Packages/*/*.rpm",
    ],
    # updates
    [
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/updates/$VER/Everything/$ARCH/Packages/*/*.rpm",
        "https://dl.fedoraproject.org/pub/fedora/linux/updates/$VER/Everything/$ARCH/",
        "https://archives.fedoraproject.org/pub/archive/fedora/linux/updates/$VER/Everything/$ARCH/",
    ],
    # debuginfo of updates
    [
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/updates/$VER/Everything/$ARCH/debug/Packages/*/*.rpm",
        "https://dl.fedoraproject.org/pub/fedora/linux/updates/$VER/Everything/$ARCH/debug/",
        "https://archives.fedoraproject.org/pub/archive/fedora/linux/updates/$VER/Everything/$ARCH/debug/",
    ],
    # updates-testing: crashes reported from testing packages need them too
    [
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/updates/testing/$VER/Everything/$ARCH/Packages/*/*.rpm",
        "https://dl.fedoraproject.org/pub/fedora/linux/updates/testing/$VER/Everything/$ARCH/",
    ],
    [
        "rsync://dl.fedoraproject.org/fedora-enchilada/linux/updates/testing/$VER/Everything/$ARCH/debug/Packages/*/*.rpm",
        "https://dl.fedoraproject.org/pub/fedora/linux/updates/testing/$VER/Everything/$ARCH/debug/",
    ],
]
