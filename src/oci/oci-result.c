/* SPDX-License-Identifier: MIT */
#include "oci-result.h"

void oci_pull_result_add_json(JsonBuilder *b, const OciPullResult *r, bool with_paths) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "result");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "manifest");
        json_builder_add_string_value(b, r->manifest_digest);
        json_builder_set_member_name(b, "layers");
        json_builder_begin_array(b);
        for (size_t i = 0; i < r->n_layers; i++) {
                const OciLayer *l = &r->layers[i];

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "digest");
                json_builder_add_string_value(b, l->digest);
                json_builder_set_member_name(b, "size");
                json_builder_add_int_value(b, (gint64) l->size);
                json_builder_set_member_name(b, "media-type");
                json_builder_add_string_value(b, l->media_type);
                json_builder_set_member_name(b, "title");
                if (l->title)
                        json_builder_add_string_value(b, l->title);
                else
                        json_builder_add_null_value(b);
                if (with_paths) {
                        json_builder_set_member_name(b, "path");
                        json_builder_add_string_value(b, l->path);
                }
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        json_builder_end_object(b);
}
