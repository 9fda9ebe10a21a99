/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "json-depth.h"
#include "oci-manifest.h"
#include "oci-reference.h"

const char oci_manifest_accept[] =
        OCI_MEDIA_TYPE_MANIFEST ", " OCI_MEDIA_TYPE_INDEX ", "
        DOCKER_MEDIA_TYPE_MANIFEST ", " DOCKER_MEDIA_TYPE_LIST;

static void descriptor_done(OciDescriptor *d) {
        free(d->media_type);
        free(d->digest);
        free(d->title);
        free(d->os);
        free(d->architecture);
        free(d->variant);
}

OciManifest *oci_manifest_free(OciManifest *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_entries; i++)
                descriptor_done(&m->entries[i]);
        free(m->entries);
        free(m->media_type);
        free(m);
        return NULL;
}

/* "bad manifest from the registry: layers[3] has no digest" */
static int bad(CcError *err, const char *list, size_t index, const char *problem) {
        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG, "bad manifest from the registry: %s[%zu] %s",
                            list, index, problem);
}

static bool is_string(JsonNode *n) {
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}

/* A string member, absent allowed (NULL), anything else but a string not. */
static int optional_string(JsonObject *o, const char *name, const char **ret) {
        JsonNode *n = json_object_get_member(o, name);

        *ret = NULL;
        if (!n)
                return 0;
        if (!is_string(n))
                return -EBADMSG;
        *ret = json_node_get_string(n);
        return 0;
}

static int dup_optional(JsonObject *o, const char *name, char **ret) {
        const char *s;

        if (optional_string(o, name, &s) < 0)
                return -EBADMSG;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

static bool media_type_is_sane(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 255)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!g_ascii_isgraph(s[i]))
                        return false;
        return true;
}

static int parse_descriptor(JsonNode *node, const char *list, size_t i, OciDescriptor *d, CcError *err) {
        const char *media_type, *digest;
        JsonObject *o, *annotations = NULL, *platform = NULL;
        JsonNode *size, *n;
        gint64 v;

        if (!JSON_NODE_HOLDS_OBJECT(node))
                return bad(err, list, i, "is not an object");
        o = json_node_get_object(node);

        if (optional_string(o, "mediaType", &media_type) < 0 || !media_type || !media_type_is_sane(media_type))
                return bad(err, list, i, "has no valid mediaType");
        if (optional_string(o, "digest", &digest) < 0 || !digest)
                return bad(err, list, i, "has no digest");
        if (!oci_digest_is_valid(digest))
                return bad(err, list, i, "has a digest that is not sha256:<64 lowercase hex>");
        size = json_object_get_member(o, "size");
        if (!size || !JSON_NODE_HOLDS_VALUE(size) || json_node_get_value_type(size) != G_TYPE_INT64)
                return bad(err, list, i, "has no integer size");
        v = json_node_get_int(size);
        if (v < 0)
                return bad(err, list, i, "has a negative size");

        n = json_object_get_member(o, "annotations");
        if (n && !JSON_NODE_HOLDS_NULL(n)) {
                if (!JSON_NODE_HOLDS_OBJECT(n))
                        return bad(err, list, i, "has annotations that are not an object");
                annotations = json_node_get_object(n);
        }
        n = json_object_get_member(o, "platform");
        if (n && !JSON_NODE_HOLDS_NULL(n)) {
                if (!JSON_NODE_HOLDS_OBJECT(n))
                        return bad(err, list, i, "has a platform that is not an object");
                platform = json_node_get_object(n);
        }

        d->media_type = strdup(media_type);
        d->digest = strdup(digest);
        d->size = (uint64_t) v;
        if (!d->media_type || !d->digest)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        if (annotations) {
                const char *title;

                if (optional_string(annotations, OCI_ANNOTATION_TITLE, &title) < 0)
                        return bad(err, list, i, "has a title annotation that is not a string");
                if (title && !(d->title = strdup(title)))
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        }
        if (platform &&
            (dup_optional(platform, "os", &d->os) < 0 ||
             dup_optional(platform, "architecture", &d->architecture) < 0 ||
             dup_optional(platform, "variant", &d->variant) < 0))
                return bad(err, list, i, "has a platform value that is not a string");
        return 0;
}

static const char *kind_of_media_type(const char *t, OciManifestKind *ret) {
        if (streq(t, OCI_MEDIA_TYPE_MANIFEST) || streq(t, DOCKER_MEDIA_TYPE_MANIFEST))
                *ret = OCI_MANIFEST_IMAGE;
        else if (streq(t, OCI_MEDIA_TYPE_INDEX) || streq(t, DOCKER_MEDIA_TYPE_LIST))
                *ret = OCI_MANIFEST_INDEX;
        else
                return NULL;
        return t;
}

int oci_manifest_parse(const char *body, size_t size, const char *content_type,
                       OciManifest **ret, CcError *err) {
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) error = NULL;
        _cleanup_(oci_manifest_freep) OciManifest *m = NULL;
        _cleanup_free_ char *ct = NULL;
        const char *body_type = NULL, *list;
        OciManifestKind ct_kind = OCI_MANIFEST_IMAGE, body_kind = OCI_MANIFEST_IMAGE;
        JsonObject *root_o;
        JsonNode *root, *n;
        JsonArray *entries;
        gint64 schema;
        guint count;

        assert(body || size == 0);
        assert(ret);

        if (size > OCI_MANIFEST_MAX_BYTES)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EFBIG,
                                    "manifest larger than %u bytes", OCI_MANIFEST_MAX_BYTES);
        /* JSON with a NUL inside is not JSON; json-glib would stop there. */
        if (size == 0 || memchr(body, '\0', size))
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "bad manifest from the registry: empty or not text");

        if (content_type) {
                size_t k = strcspn(content_type, ";");

                while (k > 0 && (content_type[k - 1] == ' ' || content_type[k - 1] == '\t'))
                        k--;
                ct = strndup(content_type, k);
                if (!ct)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
                /* Registries answer a plain application/json now and then: then the body decides. */
                if (!kind_of_media_type(ct, &ct_kind) && !streq(ct, "application/json"))
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                            "the registry sent a manifest of unsupported type \"%.100s\"", ct);
        }

        if (!json_depth_within(body, size, OCI_JSON_DEPTH_MAX))
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "bad manifest from the registry: nested more than %d deep", OCI_JSON_DEPTH_MAX);
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, body, (gssize) size, &error))
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "bad manifest from the registry: not JSON: %.200s", error->message);
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root))
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "bad manifest from the registry: not a JSON object");
        root_o = json_node_get_object(root);

        n = json_object_get_member(root_o, "schemaVersion");
        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "bad manifest from the registry: no schemaVersion");
        schema = json_node_get_int(n);
        if (schema != 2)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "unsupported manifest schemaVersion %" G_GINT64_FORMAT " (only 2)", schema);

        if (optional_string(root_o, "mediaType", &body_type) < 0)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "bad manifest from the registry: mediaType is not a string");
        if (body_type && !kind_of_media_type(body_type, &body_kind))
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "the registry sent a manifest of unsupported type \"%.100s\"", body_type);

        m = calloc(1, sizeof(*m));
        if (!m)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        if (ct && !streq(ct, "application/json")) {
                if (body_type && !streq(body_type, ct))
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                            "bad manifest from the registry: Content-Type %.100s but mediaType %.100s",
                                            ct, body_type);
                m->kind = ct_kind;
                m->media_type = strdup(ct);
        } else if (body_type) {
                m->kind = body_kind;
                m->media_type = strdup(body_type);
        } else {
                /* An OCI manifest need not say its type: the shape does. */
                bool has_layers = json_object_has_member(root_o, "layers");
                bool has_manifests = json_object_has_member(root_o, "manifests");

                if (has_layers == has_manifests)
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                            "bad manifest from the registry: no media type, and not clearly a manifest or an index");
                m->kind = has_layers ? OCI_MANIFEST_IMAGE : OCI_MANIFEST_INDEX;
                m->media_type = strdup(has_layers ? OCI_MEDIA_TYPE_MANIFEST : OCI_MEDIA_TYPE_INDEX);
        }
        if (!m->media_type)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");

        list = m->kind == OCI_MANIFEST_IMAGE ? "layers" : "manifests";
        n = json_object_get_member(root_o, list);
        if (!n || !JSON_NODE_HOLDS_ARRAY(n))
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EBADMSG,
                                    "bad manifest from the registry: no \"%s\" array", list);
        entries = json_node_get_array(n);
        count = json_array_get_length(entries);
        if (count > OCI_MANIFEST_MAX_ENTRIES)
                return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, E2BIG,
                                    "manifest lists %u %s, more than %d", count, list, OCI_MANIFEST_MAX_ENTRIES);
        if (count > 0) {
                m->entries = calloc(count, sizeof(OciDescriptor));
                if (!m->entries)
                        return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        }
        for (guint i = 0; i < count; i++) {
                int r;

                m->n_entries++;
                r = parse_descriptor(json_array_get_element(entries, i), list, i, &m->entries[i], err);
                if (r < 0)
                        return r;
                if (m->entries[i].size > UINT64_MAX - m->total_size)
                        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EOVERFLOW,
                                            "bad manifest from the registry: sizes overflow");
                m->total_size += m->entries[i].size;
        }

        *ret = TAKE_PTR(m);
        return 0;
}

static bool is_manifest_type(const char *t) {
        OciManifestKind k;

        return kind_of_media_type(t, &k) && k == OCI_MANIFEST_IMAGE;
}

int oci_index_select(const OciManifest *index, const char *os, const char *architecture,
                     const OciDescriptor **ret, CcError *err) {
        char seen[160] = "";
        size_t used = 0;

        assert(index);
        assert(os);
        assert(architecture);
        assert(ret);

        for (size_t i = 0; i < index->n_entries; i++) {
                const OciDescriptor *d = &index->entries[i];

                if (streq_ptr(d->os, os) && streq_ptr(d->architecture, architecture) &&
                    is_manifest_type(d->media_type)) {
                        *ret = d;
                        return 0;
                }
                if (used < sizeof(seen) - 1) {
                        int k = snprintf(seen + used, sizeof(seen) - used, "%s%.20s/%.20s",
                                         used ? ", " : "", d->os ?: "?", d->architecture ?: "?");
                        if (k > 0)
                                used += (size_t) k;
                        if (used >= sizeof(seen))
                                used = sizeof(seen) - 1;
                }
        }
        return cc_error_set(err, CC_ERROR_REGISTRY_ERROR, ENOENT,
                            "the index has no %s/%s manifest (it has: %s)", os, architecture,
                            index->n_entries ? seen : "nothing");
}
