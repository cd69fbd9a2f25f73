// Package packaging holds dsrlb's Debian package and its tests; it has no
// Go code of its own.
//
//   - root/ is the package's own files, as installed: the systemd units
//     (lib/systemd/system), the template configuration (etc/dsrlb), the
//     units' settings (etc/default/dsrlb) and the hugepage helper
//     (usr/lib/dsrlb).
//   - DEBIAN/ holds the maintainer scripts and the list of conffiles.
//   - build-deb.sh assembles the package with dpkg-deb from what make
//     binaries built, adding the programs, the eBPF object, the Grafana
//     dashboard and alert rules (perf/), the documentation and the
//     control file (Depends computed by dpkg-shlibdeps); make deb runs it.
//
// The tests check the units, the template, the helper and the Dockerfile
// (always), and with the e2e build tag build the package with make deb,
// inspect it, install it on this machine, run both programs as the units
// would in a network namespace, upgrade, remove and purge it.
package packaging
