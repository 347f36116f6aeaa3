#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# dm-thin-reset, unpatch during a failing abort: the abort fails while the unpatch
# transition waits for the pool worker (needs lockfix_dm_thin_reset loaded, else SKIP);
# see thin_abort.sh.
exec "$(cd "$(dirname "$0")" && pwd)/thin_abort.sh" unpatchlate
