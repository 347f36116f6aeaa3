// SPDX-License-Identifier: GPL-2.0
/* Replacement dm-thin-metadata functions for the struct layout of Debian 5.10.262-1
 * (also the prefix-5.10.262 kernels: same dm-thin source, their own config's lock sizes). */
#include "lockfix_features.h"
#if LOCKFIX_DM_THIN_METADATA_5_10 && !LOCKFIX_UPSTREAM_HAS_d48300120627
#define THIN_VARIANT _5_10_262
#define THIN_HAS_HELD_ROOT 1
#include "thin_impl.h"
#endif
