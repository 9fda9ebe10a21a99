/* SPDX-License-Identifier: MIT */
#pragma once

/* What the version 2 and version 3 editors of containerd's configuration
 * (containerd-v2.c, containerd-v3.c) share: text splicing that can be
 * undone to the byte, and the checks every edit makes. */

#include <stdbool.h>
#include <stddef.h>

#include "cc-error.h"
#include "toml-lex.h"

/* The path of the runtimes table: plugins.<CRI plugin>.containerd.runtimes. */
#define CONTAINERD_RUNTIMES_PATH_LEN 4
extern const char *const containerd_v2_runtimes[CONTAINERD_RUNTIMES_PATH_LEN];
extern const char *const containerd_v3_runtimes[CONTAINERD_RUNTIMES_PATH_LEN];

/* The items of a version 2 managed block, markers included. */
typedef struct ContainerdBlock {
        bool found;
        size_t begin, end;      /* the marker items */
        size_t start, stop;     /* the bytes it takes, markers included */
} ContainerdBlock;

static inline bool containerd_item_in_block(const ContainerdBlock *b, size_t i) {
        return b->found && i >= b->begin && i <= b->end;
}

int containerd_oom(CcError *err);

/* InvalidArgument unless name is a RuntimeClass handler other than runc. */
int containerd_check_runtime_class(const char *name, CcError *err);

/* path as a TOML string; InvalidArgument naming what it is when it is
 * empty or not UTF-8. */
int containerd_quote_path(const char *path, const char *what, char **ret, CcError *err);

/* text with [del_start, del_end) replaced by ins (NULL: nothing). */
int containerd_splice(const char *text, size_t len, size_t del_start, size_t del_end, const char *ins,
                      char **ret, size_t *ret_len, CcError *err);
/* The same, and the result must parse (*ret untouched when it does not). */
int containerd_splice_checked(const char *text, size_t len, size_t del_start, size_t del_end, const char *ins,
                              char **ret, size_t *ret_len, CcError *err);
int containerd_copy_text(const char *text, size_t len, char **ret, size_t *ret_len, CcError *err);

/* The range of whole lines [start, end) to remove; a last line without a
 * newline takes the newline before it, undoing an append to such a file. */
void containerd_removal_range(const char *text, size_t len, size_t *start, size_t *end);

/* lines (each ending in nl) inserted at pos: at the end of a file without
 * a final newline, the newline moves in front. */
char *containerd_lines_at(const char *text, size_t len, size_t pos, const char *lines, const char *nl);

/* Whether item is the comment prefix followed by name, and nothing else. */
bool containerd_comment_is(const TomlDoc *doc, const TomlItem *item, const char *prefix, const char *name);
bool containerd_item_is_header(const TomlItem *item);

/* Parses the file, and refuses it (InvalidArgument, saying what to do)
 * unless it is of version. */
int containerd_doc_parse(TomlDoc *doc, const char *text, size_t len, int version, CcError *err);


/* A runtime table for name outside the managed block (b; NULL: none), or a
 * value where its tables would go, makes ours a second definition: in
 * version 2 a duplicate table, in version 3 a merge into the file's own. */
int containerd_check_conflicts(const TomlDoc *doc, const char *const runtimes[static CONTAINERD_RUNTIMES_PATH_LEN],
                               const char *name, const ContainerdBlock *b, CcError *err);
