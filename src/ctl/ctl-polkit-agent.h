/* SPDX-License-Identifier: MIT */
#pragma once

/* A text authentication agent for the duration of one command, as
 * systemctl and hostnamectl start one: pkttyagent, registered with polkit
 * for this process (as a fallback in a logind session, as theirs), so that
 * an administrator on a terminal (over SSH, or without a session through
 * runuser or sudo -u) is asked for a password when an action is
 * auth_admin_keep.  Only where someone can answer (standard input a
 * terminal), never for root (root needs no authorization); the caller
 * decides the rest (--no-ask-password, a remote host). */

/* Starts it and waits until it is registered (or gave up).  0 when none
 * was needed or pkttyagent is not installed, 1 when it runs. */
int ctl_polkit_agent_open(void);
/* Stops it; nothing when none runs. */
void ctl_polkit_agent_close(void);
