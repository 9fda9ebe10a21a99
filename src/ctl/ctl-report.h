/* SPDX-License-Identifier: MIT */
#pragma once

/* What a change did, for people, from the host read before and after it:
 * which devices set-mode switched and which were in the mode already, and
 * for bind-vfio and unbind-vfio each IOMMU group with every function it
 * took or gave back.  Pure: text to the FILE given. */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl-args.h"
#include "ctl-model.h"

/* gpu: the one device of --gpu, or NULL for every CC-capable one. */
void ctl_report_mode(FILE *f, const CtlHost *before, const CtlHost *after, const char *mode, const char *gpu);

/* addresses: those named (n 0: every GPU). */
void ctl_report_vfio(FILE *f, const CtlHost *before, const CtlHost *after, bool bind,
                     const char (*addresses)[CTL_BDF_MAX], size_t n);
