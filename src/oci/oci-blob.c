/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fileio.h"
#include "oci-blob.h"
#include "oci-reference.h"

/* Writes go out in large pieces; TLS hands over 16 KiB at a time. */
#define WRITE_BUFFER (1024 * 1024)

typedef struct BlobSink {
        int fd;
        EVP_MD_CTX *md;
        uint64_t expected;
        uint64_t received;
        uint8_t *buffer;
        size_t buffered;
        OciBlobProgress progress;
        void *userdata;
        bool too_long;
        int write_error;
} BlobSink;

static int flush_buffer(BlobSink *s) {
        int r;

        r = loop_write(s->fd, s->buffer, s->buffered);
        if (r < 0)
                return r;
        s->buffered = 0;
        return 0;
}

static int sink_write(void *userdata, const void *data, size_t size) {
        BlobSink *s = userdata;
        const uint8_t *p = data;
        size_t n = size;
        int r;

        if (size > s->expected - s->received) {
                s->too_long = true;
                return -EFBIG;
        }
        if (EVP_DigestUpdate(s->md, data, size) != 1)
                return -EIO;
        s->received += size;
        while (size > 0) {
                size_t k = WRITE_BUFFER - s->buffered;

                if (k > size)
                        k = size;
                memcpy(s->buffer + s->buffered, p, k);
                s->buffered += k;
                p += k;
                size -= k;
                if (s->buffered == WRITE_BUFFER) {
                        r = flush_buffer(s);
                        if (r < 0) {
                                s->write_error = r;
                                return r;
                        }
                }
        }
        if (s->progress) {
                r = s->progress((int64_t) n, s->userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int sink_reset(void *userdata) {
        BlobSink *s = userdata;

        if (s->progress && s->received > 0)
                (void) s->progress(-(int64_t) s->received, s->userdata);
        s->received = 0;
        s->buffered = 0;
        if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)
                return -errno;
        if (EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1)
                return -EIO;
        return 0;
}

static void hex(const uint8_t *d, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[d[i] >> 4];
                out[2 * i + 1] = digits[d[i] & 15];
        }
        out[2 * n] = '\0';
}

/* An anonymous file in the directory (linked in once verified), or a
 * hidden named one where the file system has no O_TMPFILE. */
static int open_temporary(int dir_fd, const char *name, char **ret_temp_name) {
        _cleanup_free_ char *temp = NULL;
        int fd;

        fd = openat(dir_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) {
                *ret_temp_name = NULL;
                return fd;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                return -errno;
        if (asprintf(&temp, ".%s.partial", name) < 0)
                return -ENOMEM;
        fd = openat(dir_fd, temp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        *ret_temp_name = TAKE_PTR(temp);
        return fd;
}

static int link_temporary(int fd, int dir_fd, const char *temp_name, const char *name) {
        char proc[64];

        if (temp_name)
                return renameat2(dir_fd, temp_name, dir_fd, name, RENAME_NOREPLACE) < 0 ? -errno : 0;
        /* linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link does not. */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        return linkat(AT_FDCWD, proc, dir_fd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

int oci_blob_fetch(OciHttp *h, const char *url, const char *authorization,
                   int dir_fd, const OciDescriptor *d, const char *what,
                   OciBlobProgress progress, void *userdata, CcError *err) {
        _cleanup_free_ char *temp_name = NULL;
        _cleanup_free_ uint8_t *buffer = NULL;
        _cleanup_close_ int fd = -1;
        OciHttpResponse response = {};
        uint8_t md[EVP_MAX_MD_SIZE];
        char got[2 * EVP_MAX_MD_SIZE + 1];
        const char *want_hex;
        unsigned md_len = 0;
        BlobSink s;
        int r;

        assert(h);
        assert(url);
        assert(d);
        assert(oci_digest_is_valid(d->digest));

        want_hex = d->digest + strlen("sha256:");
        buffer = malloc(WRITE_BUFFER);
        if (!buffer)
                return cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "out of memory");
        fd = open_temporary(dir_fd, want_hex, &temp_name);
        if (fd < 0)
                return cc_error_set(err, CC_ERROR_INTERNAL, -fd, "cannot create a file for %s: %s", what, strerror(-fd));

        s = (BlobSink) {
                .fd = fd,
                .md = EVP_MD_CTX_new(),
                .expected = d->size,
                .buffer = buffer,
                .progress = progress,
                .userdata = userdata,
        };
        if (!s.md || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
                r = cc_error_set(err, CC_ERROR_INTERNAL, ENOMEM, "cannot set up SHA-256");
                goto fail;
        }

        r = oci_http_get(h, url, authorization, NULL,
                         &(OciHttpSink) { .write = sink_write, .reset = sink_reset, .userdata = &s },
                         &response, err);
        if (r < 0) {
                if (s.too_long)
                        r = cc_error_set(err, CC_ERROR_DIGEST_MISMATCH, EBADMSG,
                                         "%s (%s): the registry sent more than the %" PRIu64 " bytes the manifest gives",
                                         what, d->digest, d->size);
                else if (s.write_error < 0)
                        r = cc_error_set(err, CC_ERROR_INTERNAL, -s.write_error, "cannot write %s: %s",
                                         what, strerror(-s.write_error));
                else if (!cc_error_is_set(err))
                        r = cc_error_set(err, CC_ERROR_INTERNAL, -r, "cannot fetch %s: %s", what, strerror(-r));
                goto fail;
        }
        if (response.status != 200) {
                char status[256];

                oci_http_describe(&response, status, sizeof(status));
                r = cc_error_set(err, CC_ERROR_REGISTRY_ERROR, EIO, "cannot fetch %s (%s): %s", what, d->digest, status);
                goto fail;
        }
        r = flush_buffer(&s);
        if (r < 0) {
                r = cc_error_set(err, CC_ERROR_INTERNAL, -r, "cannot write %s: %s", what, strerror(-r));
                goto fail;
        }
        if (EVP_DigestFinal_ex(s.md, md, &md_len) != 1) {
                r = cc_error_set(err, CC_ERROR_INTERNAL, EIO, "SHA-256 failed");
                goto fail;
        }
        hex(md, md_len, got);
        if (s.received != d->size) {
                r = cc_error_set(err, CC_ERROR_DIGEST_MISMATCH, EBADMSG,
                                 "%s (%s): the registry sent %" PRIu64 " bytes, the manifest gives %" PRIu64,
                                 what, d->digest, s.received, d->size);
                goto fail;
        }
        if (!streq(got, want_hex)) {
                r = cc_error_set(err, CC_ERROR_DIGEST_MISMATCH, EBADMSG,
                                 "%s: content has digest sha256:%s, the manifest says %s",
                                 what, got, d->digest);
                goto fail;
        }
        r = link_temporary(fd, dir_fd, temp_name, want_hex);
        if (r < 0) {
                r = cc_error_set(err, CC_ERROR_INTERNAL, -r, "cannot store %s: %s", what, strerror(-r));
                goto fail;
        }
        free(temp_name);
        temp_name = NULL;
        r = 0;
fail:
        if (temp_name)
                (void) unlinkat(dir_fd, temp_name, 0);
        oci_http_response_done(&response);
        EVP_MD_CTX_free(s.md);
        return r;
}
