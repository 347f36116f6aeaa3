# SPDX-License-Identifier: GPL-2.0
# Included by each fix's Kbuild (LOCKFIX_FIX set): lockfix_vetted.h, the fix's table of
# vetted builds, is generated from fleet/ at build time (common/gen-vetted.sh), so a
# build is only ever patched from reviewed data with a passing proof.  LOCKFIX_CANDIDATE
# (make vet) names the one kernel let in before its proof exists.
LOCKFIX_TOP := $(src)/..
$(obj)/livepatch.o: $(obj)/lockfix_vetted.h
$(obj)/lockfix_vetted.h: $(LOCKFIX_TOP)/common/gen-vetted.sh $(LOCKFIX_TOP)/fleet/vetted.tsv \
		$(wildcard $(LOCKFIX_TOP)/fleet/facts/*.tsv $(LOCKFIX_TOP)/fleet/proofs/*.tap) \
		$(src)/fingerprint.tsv FORCE
	$(Q)$(CONFIG_SHELL) $(LOCKFIX_TOP)/common/gen-vetted.sh $(LOCKFIX_FIX) $(LOCKFIX_TOP) \
		$(LOCKFIX_CANDIDATE) > $@.tmp || { rm -f $@.tmp; exit 1; }; \
	cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
targets += lockfix_vetted.h

# make check-mutants (harness/check-mutants.sh, harness/mutants.tsv): LOCKFIX_MUTANT=<fix>
# builds that fix's replacement doing the old, buggy thing (#ifdef LOCKFIX_MUTANT in its
# code); LOCKFIX_MUTANT=<fix>:<name> builds another wrong variant (#ifdef
# LOCKFIX_MUTANT_<name>, dashes as underscores).  Either way its proof must fail.  Never in
# a shipped build.
ccflags-y += $(if $(filter $(LOCKFIX_FIX),$(LOCKFIX_MUTANT)),-DLOCKFIX_MUTANT -DLOCKFIX_MUTANT_ANY)
ccflags-y += $(foreach m,$(filter $(LOCKFIX_FIX):%,$(LOCKFIX_MUTANT)),\
	-DLOCKFIX_MUTANT_$(subst -,_,$(patsubst $(LOCKFIX_FIX):%,%,$(m))) -DLOCKFIX_MUTANT_ANY)
clean-files += lockfix_vetted.h
