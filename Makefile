# SPDX-License-Identifier: GPL-2.0
# lockfix top-level Makefile.
#
#   make                         build the livepatch modules for the running kernel
#   make KVER=5.10.0-46-amd64    ... for an installed kernel's headers
#   make KDIR=/path/to/build     ... for any kbuild tree
#   make check                   CI: every kernel built + DKMS + facts check, the proof tier's
#                                proofs in VMs (harness/check.sh)
#   make check KERNELS="deb11-5.10.0-46" TESTS="dio-nofault"   proofs of the named kernels
#   make check-fleet             every kernel's proof (the whole matrix in VMs)
#   make check-mutants [FIXES=...]   each mutant of harness/mutants.tsv must be caught
#   make soak KERNELS="..." [FIXES=...] [CYCLES=100]   the slow tier: CYCLES enable/disable
#                                cycles per livepatch under its own load, kernel log clean
#   make vet KERNEL=<id> [FIXES=<fix>]   read a kernel's facts in a boot, run and record its proof (FIXES: re-prove only those)
#                                (fleet/facts/<id>.tsv, fleet/proofs/<id>.tap): commit fleet/
#   make matrix-refresh          served ABIs the matrix lacks, rows whose packages moved
#   make support-matrix          rewrite README.md's support matrix from fleet/
#   make vm KERNEL=deb11-5.10.0-46 [SCRIPT=file]   ad-hoc guest (harness/vm.sh)
#   make kernels [KERNELS=...]   fetch/build matrix kernels into the cache
#   make demo                    the admin's story in a Debian 11 system VM (bugs, install, status, fixed)
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build

# Debian 11 headers ask for gcc-10 (.kernelvariables); where it is absent, the system gcc
# builds these kernels cleanly (see ../shared/README.md, measured with gcc 12).
KBUILD_CC := $(if $(shell grep -s 'gcc-10' $(KDIR)/.kernelvariables),$(if $(shell command -v gcc-10),,CC=gcc))

all: modules

modules:
	@test -d $(KDIR) || { echo "lockfix: no kernel build tree at $(KDIR) (set KDIR= or KVER=, or install linux-headers-$(KVER))" >&2; exit 2; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KBUILD_CC) modules

clean:
	@test ! -d $(KDIR) || $(MAKE) -C $(KDIR) M=$(CURDIR) $(KBUILD_CC) clean

check:
	harness/check.sh $(if $(KERNELS),--kernels "$(KERNELS)") $(if $(TESTS),--tests "$(TESTS)")

check-fleet:
	harness/check.sh --fleet $(if $(TESTS),--tests "$(TESTS)")

check-mutants:
	harness/check-mutants.sh $(FIXES)

soak:
	@test -n "$(KERNELS)" || { echo "usage: make soak KERNELS=\"<id> ...\" [FIXES=\"fix ...\"] [CYCLES=100]" >&2; exit 2; }
	@rc=0; for k in $(KERNELS); do harness/soak.sh -n $(or $(CYCLES),100) $$k $(FIXES) || rc=1; done; exit $$rc

vet:
	@test -n "$(KERNEL)" || { echo "usage: make vet KERNEL=<id> [FIXES=\"fix ...\"]   (ids: harness/matrix.tsv)" >&2; exit 2; }
	harness/vet.sh $(if $(FIXES),--fix "$(FIXES)") $(KERNEL)

matrix-refresh:
	harness/matrix-refresh.sh

support-matrix:
	harness/support-matrix.sh --update

kernels:
	@for k in $(or $(KERNELS),$(shell awk -F'\t' '!/^#/ && NF {print $$1}' harness/matrix.tsv)); do \
		harness/kernel.sh $$k || exit 1; done

vm:
	@test -n "$(KERNEL)" || { echo "usage: make vm KERNEL=<id> [SCRIPT=file]" >&2; exit 2; }
	harness/vm.sh $(KERNEL) $(SCRIPT)

demo:
	harness/demo.sh

.PHONY: all modules clean check check-fleet check-mutants soak vet matrix-refresh support-matrix kernels vm demo

# Debian packaging (make deb, make debs): packaging.mk.
-include packaging.mk
