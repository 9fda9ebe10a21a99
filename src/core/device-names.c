/* SPDX-License-Identifier: MIT */

/* Names of the parts the built-in ranges of device.c know, for hosts whose
 * pci.ids predates them: Debian 12's (2023-04-10) has no H200, so the real
 * H200 came out with an empty name.  The strings are pci.ids' own (the
 * pciutils/pciids database of 2026), so a host with a newer pci.ids shows
 * the same name either way. */

#include <stdlib.h>

#include "device.h"

typedef struct BuiltinName {
        uint16_t device_id;
        const char *name;
} BuiltinName;

/* NVIDIA ids inside the Hopper (0x22f0..0x237f), LS10 NVSwitch
 * (0x22a0..0x22a3) and Blackwell (0x2900..0x2bff) ranges, sorted by id. */
static const BuiltinName nvidia_names[] = {
        { 0x22a3, "GH100 [H100 NVSwitch]" },
        { 0x2302, "GH100" },
        { 0x230c, "GH100 [H20 NVL16]" },
        { 0x230e, "GH100 [H20 NVL16]" },
        { 0x2313, "GH100 [H100 CNX]" },
        { 0x2321, "GH100 [H100L 94GB]" },
        { 0x2322, "GH100 [H800 PCIe]" },
        { 0x2324, "GH100 [H800]" },
        { 0x2328, "GH100 [H20B]" },
        { 0x2329, "GH100 [H20]" },
        { 0x232c, "GH100 [H20 HBM3e]" },
        { 0x2330, "GH100 [H100 SXM5 80GB]" },
        { 0x2331, "GH100 [H100 PCIe]" },
        { 0x2335, "GH100 [H200 SXM 141GB]" },
        { 0x2336, "GH100 [H100]" },
        { 0x2337, "GH100 [H100 SXM5 64GB]" },
        { 0x2338, "GH100 [H100 SXM5 96GB]" },
        { 0x2339, "GH100 [H100 SXM5 94GB]" },
        { 0x233a, "GH100 [H800L 94GB]" },
        { 0x233b, "GH100 [H200 NVL]" },
        { 0x233d, "GH100 [H100 96GB]" },
        { 0x2342, "GH100 [GH200 120GB / 480GB]" },
        { 0x2343, "GH100" },
        { 0x2345, "GH100 [GH100-88K-A1]" },
        { 0x2348, "GH100 [GH200 144G HBM3e]" },
        { 0x237e, "GH100 [H100 GH3]" },
        { 0x237f, "GH100 [Skinny Joe]" },
        { 0x2900, "GB100 [Reserved Dev ID A]" },
        { 0x2901, "GB100 [B200]" },
        { 0x2909, "GB100 [HGX B200 168GB]" },
        { 0x2920, "GB100 [TS4 / B100]" },
        { 0x2924, "GB100" },
        { 0x2925, "GB100" },
        { 0x293d, "GB100" },
        { 0x2940, "GB100 [Reserved Dev ID B]" },
        { 0x2941, "GB100 [HGX GB200]" },
        { 0x297e, "GB100" },
        { 0x2980, "GB102 [Reserved Dev ID A]" },
        { 0x29bb, "GB102 [DRIVE P2021]" },
        { 0x29bc, "GB102 [B100]" },
        { 0x29c0, "GB102 [Reserved Dev ID B]" },
        { 0x29f1, "GB102" },
        { 0x2b00, "GB10B [Jetson AGX Thor]" },
        { 0x2b85, "GB202 [GeForce RTX 5090]" },
        { 0x2b87, "GB202 [GeForce RTX 5090 D]" },
        { 0x2b8c, "GB202 [GeForce RTX 5090 D V2]" },
        { 0x2bb1, "GB202GL [RTX PRO 6000 Blackwell Workstation Edition]" },
        { 0x2bb2, "GB202GL [RTX PRO 6000D Blackwell Workstation Edition]" },
        { 0x2bb3, "GB202GL [RTX PRO 5000 Blackwell / RTX PRO 5000 72GB Blackwell]" },
        { 0x2bb4, "GB202GL [RTX PRO 6000 Blackwell Max-Q Workstation Edition]" },
        { 0x2bb5, "GB202GL [RTX PRO 6000 Blackwell Server Edition]" },
        { 0x2bb9, "GB202GL [RTX 6000D]" },
        { 0x2bbc, "GB202GL [RTX PRO 6000D Blackwell Max-Q Workstation Edition]" },
};

static int compare_id(const void *key, const void *entry) {
        uint16_t id = *(const uint16_t *) key;
        uint16_t other = ((const BuiltinName *) entry)->device_id;

        return id < other ? -1 : id > other;
}

const char *cc_device_builtin_name(uint16_t vendor_id, uint16_t device_id) {
        const BuiltinName *n;

        if (vendor_id != NVIDIA_VENDOR_ID)
                return NULL;
        n = bsearch(&device_id, nvidia_names, ELEMENTSOF(nvidia_names), sizeof(nvidia_names[0]), compare_id);
        return n ? n->name : NULL;
}

bool cc_device_builtin_name_at(size_t i, uint16_t *ret_device_id, const char **ret_name) {
        if (i >= ELEMENTSOF(nvidia_names))
                return false;
        *ret_device_id = nvidia_names[i].device_id;
        *ret_name = nvidia_names[i].name;
        return true;
}

char *cc_device_name(const char *pci_name, uint16_t vendor_id, uint16_t device_id) {
        const char *builtin;
        char *name;

        if (pci_name && *pci_name)
                return strdup(pci_name);
        builtin = cc_device_builtin_name(vendor_id, device_id);
        if (builtin)
                return strdup(builtin);
        /* What lspci prints for an id its pci.ids lacks. */
        if (asprintf(&name, "Device %04x", device_id) < 0)
                return NULL;
        return name;
}
