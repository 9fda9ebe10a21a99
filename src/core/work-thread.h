/* SPDX-License-Identifier: MIT */
#pragma once

/* Runs one function on a worker thread, so the event loop keeps answering
 * while it does slow file work (linking and syncing GiBs of artifacts,
 * deleting a tree).  The caller adds work_thread_get_fd() to its loop; once
 * it is readable, work_thread_finish() joins the thread and returns the
 * function's result.  The function must not touch what the loop's thread
 * changes meanwhile.  The mode switch, the VFIO job, Rescan, the plans and
 * the Kata file work all run on one. */

#include <stdbool.h>

#include "cc-error.h"
#include "macro.h"

typedef int (*WorkFunction)(void *userdata, CcError *err);

typedef struct WorkThread WorkThread;

int work_thread_start(WorkFunction fn, void *userdata, WorkThread **ret);
/* Readable (EPOLLIN) once the function returned. */
int work_thread_get_fd(const WorkThread *w);
/* Whether the function returned (without waiting). */
bool work_thread_done(const WorkThread *w);
/* Joins the thread; the function's return value, and its error in *err. */
int work_thread_finish(WorkThread *w, CcError *err);
/* Joins the thread first if it still runs. */
WorkThread *work_thread_free(WorkThread *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(WorkThread *, work_thread_free);
