# SPDX-License-Identifier: GPL-2.0
# Debian packaging (-included by the top Makefile); the work is in debian/packaging.sh.
#
#   make deb            out/deb/lockfix_<v>_all.deb, out/deb/lockfix-dkms_<v>_all.deb
#                       (built from a copy of the tree in out/pkg/; lintian on both)
#   make debs           those, lockfix-modules-<release>_<v>_amd64.deb for every vetted
#                       Debian ABI with a passing proof (modules built by harness/build.sh),
#                       and the flat apt repository out/apt/; lintian on every package
#     DEBS_KERNELS="deb11-5.10.0-46"   only these kernels
#     DEBS_UNPROVEN=1                  also vetted kernels whose proof is not recorded yet
#     LOCKFIX_SIGN_KEY=... LOCKFIX_SIGN_CERT=...   sign the modules (tools/README.md)
#   make version-check  dkms.conf, debian/changelog, tools/lockfix, lockfix.8 agree
#   make test-cli       tools/test-lockfix.sh (the CLI against fake sysroots)
#   make lintian        lintian on out/deb/*.deb
PACKAGING := debian/packaging.sh

deb: version-check
	$(PACKAGING) deb
	$(PACKAGING) lintian

debs: version-check
	rm -f out/deb/lockfix-modules-*.deb
	$(PACKAGING) deb
	@abis=$$($(PACKAGING) abis) || exit 1; \
	if [ -z "$$abis" ]; then \
		echo "packaging: no Debian kernel has a vetted fix with a passing proof yet (fleet/proofs/): no lockfix-modules package (DEBS_UNPROVEN=1 to try the packaging anyway)"; \
	else \
		$(PACKAGING) modules $$abis || exit 1; \
	fi
	$(PACKAGING) apt
	$(PACKAGING) apt-check
	$(PACKAGING) lintian

version-check:
	@$(PACKAGING) version-check

test-cli:
	tools/test-lockfix.sh

lintian:
	$(PACKAGING) lintian

.PHONY: deb debs version-check test-cli lintian
