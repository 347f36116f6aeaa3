#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset, pre-patch state: a pool whose abort failed before the livepatch was
# applied is closed by the patched code (needs lockfix_dm_thin_reset loaded, else SKIP);
# see thin_abort.sh.
exec "$(cd "$(dirname "$0")" && pwd)/thin_abort.sh" preabort
