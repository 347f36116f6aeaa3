#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset, unpatch: a pool whose abort failed under the livepatch is closed by the
# original code after the livepatch is disabled, without leaking its block manager (needs
# lockfix_dm_thin_reset loaded, else SKIP); see thin_abort.sh.
exec "$(cd "$(dirname "$0")" && pwd)/thin_abort.sh" unpatch
