/* SPDX-License-Identifier: MIT */
#pragma once

/* Writes labels of one Node with JSON merge patches, one at a time: values
 * set while a patch is in flight are gathered into the next one, a failed
 * patch is retried with a growing delay (the later value of a label wins).
 * Each set is numbered; the writer says which number is on the server. */

#include <stdint.h>
#include <systemd/sd-event.h>

#include "kube-client.h"

typedef struct LabelWriter LabelWriter;

/* Everything set up to generation is on the server. */
typedef void (*LabelWriterSynced)(LabelWriter *w, uint64_t generation, void *userdata);

int label_writer_new(KubeClient *client, sd_event *event, const char *node_name, LabelWriterSynced synced,
                     void *userdata, LabelWriter **ret);
LabelWriter *label_writer_free(LabelWriter *w);

/* Sets a label (value NULL: removes it); returns the generation of this set. */
uint64_t label_writer_set(LabelWriter *w, const char *key, const char *value);
/* Nothing waiting or in flight. */
bool label_writer_idle(LabelWriter *w);
