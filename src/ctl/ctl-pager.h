/* SPDX-License-Identifier: MIT */
#pragma once

/* Long output through a pager when standard output is a terminal, as
 * systemd's tools do: $SYSTEMD_PAGER, else $PAGER, else less (then more),
 * with LESS=FRSXMK unless set, so that text that fits the screen is simply
 * printed.  A pager of "" or "cat" means none. */

/* Standard output goes to the pager from here on; 0 when none was started. */
int ctl_pager_open(void);
/* Flushes, ends the pager's input and waits for it to quit. */
void ctl_pager_close(void);
