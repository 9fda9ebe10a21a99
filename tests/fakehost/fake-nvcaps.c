/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdbool.h>

#include "fake-nvcaps.h"
#include "macro.h"

static bool chip_is_gb20x(GpuChip chip) {
        return chip == GPU_CHIP_GB202 || chip == GPU_CHIP_GB203 || chip == GPU_CHIP_GB205 ||
               chip == GPU_CHIP_GB206 || chip == GPU_CHIP_GB207;
}

static void put32(uint8_t *config, uint32_t off, uint32_t v) {
        config[off] = v & 0xff;
        config[off + 1] = (v >> 8) & 0xff;
        config[off + 2] = (v >> 16) & 0xff;
        config[off + 3] = v >> 24;
}

/* Extended capability header: id [15:0], version [19:16], next [31:20]. */
static uint32_t ext_header(uint16_t id, uint8_t version, uint32_t next) {
        return id | (uint32_t) version << 16 | next << 20;
}

/* Where the capabilities sit: the DVSEC where GB100's register manual puts
 * it; the VSEC somewhere else, so that code finding it by walking the list
 * is what the test checks. */
#define AER_OFFSET   0x100u
#define DVSEC_OFFSET 0xaf0u
#define VSEC_OFFSET  0x600u

int fake_nvcaps_write(const char *config_path, GpuChip chip) {
        uint8_t config[4096] = {};
        _cleanup_close_ int fd = -1;
        ssize_t k;

        switch (chip) {
        case GPU_CHIP_GB100:
        case GPU_CHIP_GB102:
        case GPU_CHIP_GB110:
        case GPU_CHIP_GB112:
        case GPU_CHIP_BLACKWELL_OTHER:
        case GPU_CHIP_GB202:
        case GPU_CHIP_GB203:
        case GPU_CHIP_GB205:
        case GPU_CHIP_GB206:
        case GPU_CHIP_GB207:
                break;
        default:
                return 0;
        }

        fd = open(config_path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        k = pread(fd, config, 256, 0);
        if (k < 0)
                return -errno;

        if (chip_is_gb20x(chip)) {
                put32(config, AER_OFFSET, ext_header(0x0001, 2, VSEC_OFFSET));
                put32(config, VSEC_OFFSET, ext_header(0x000b, 1, 0));
                /* id 1, revision 1, length 0x18 */
                put32(config, VSEC_OFFSET + 4, 0x1u | 0x1u << 16 | 0x18u << 20);
        } else {
                put32(config, AER_OFFSET, ext_header(0x0001, 2, DVSEC_OFFSET));
                put32(config, DVSEC_OFFSET, ext_header(0x0023, 1, 0));
                /* vendor 0x10de, revision 0, length 0x1c; then DVSEC id 0 */
                put32(config, DVSEC_OFFSET + 4, 0x10deu | 0x1cu << 20);
                put32(config, DVSEC_OFFSET + 8, 0x0u);
        }

        k = pwrite(fd, config, sizeof(config), 0);
        if (k < 0)
                return -errno;
        return k == (ssize_t) sizeof(config) ? 0 : -EIO;
}
