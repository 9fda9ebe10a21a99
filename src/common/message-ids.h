/* SPDX-License-Identifier: MIT */
#pragma once

/* One MESSAGE_ID per kind of event; docs/nvidia-ccd.catalog explains each. */

#define CC_MESSAGE_SWITCH_STARTED     "7d8294e3acf3449dbd352d21c4587fe1"
#define CC_MESSAGE_SWITCH_FINISHED    "eebabe7e60304bfe81c53e1c92b2fcdf"
#define CC_MESSAGE_SWITCH_FAILED      "ab989ea3670b43d5a2cfc637a23bfcc4"
#define CC_MESSAGE_SWITCH_RESUMED     "6821aa30b7f243b0aae6868161024ac7"
#define CC_MESSAGE_AUTH_DENIED        "552f0c3a316343768ae36d168dc20e69"
#define CC_MESSAGE_DEFAULT_MODE       "bccbe831519e47df9477492335affbda"
#define CC_MESSAGE_NO_HOST_TEE        "0db7f48ab13541a3b58a9e90163f375d"
#define CC_MESSAGE_DEVICES_CHANGED    "9c6f58f7d4ea417f8a02a3088c7afd1e"
#define CC_MESSAGE_MODE_READ          "2f535767fa274093bf6126372bba8dd8"

/* A device a process holds open is never taken from its driver; a sysfs
 * write the kernel did not finish in time leaves a thread behind. */
#define CC_MESSAGE_DEVICE_IN_USE      "464fe384403448f290df32e73f0017aa"
#define CC_MESSAGE_WRITE_STUCK        "fcd648fe441745169334049cb8031f69"

/* VFIO binding of whole IOMMU groups. */
#define CC_MESSAGE_VFIO_BOUND         "64d8a98358094ce38c50fec06c2db5d9"
#define CC_MESSAGE_VFIO_UNBOUND       "75910288d9e54318b1a3308feae694ea"
#define CC_MESSAGE_VFIO_ROLLED_BACK   "4def12ec46f845ada5db71f5b4f36412"
#define CC_MESSAGE_VFIO_REFUSED       "9ec8d33ed43b4466a92f97b6b4110829"

/* Kata artifacts. */
#define CC_MESSAGE_ARTIFACTS_INSTALLED "5a8d4b86019a4738a49ce84a46529a63"
#define CC_MESSAGE_ARTIFACTS_REMOVED   "3ac1fafc13b14867ae6a327a843b91c8"
#define CC_MESSAGE_ARTIFACTS_REFUSED   "5058da77228348498fb642288170ae84"

/* nvidia-cc-k8s-bridge. */
#define CC_MESSAGE_BRIDGE_APPLIED     "f757c00977cc47019539affb8b7ece3e"
#define CC_MESSAGE_BRIDGE_FAILED      "d3a886f462684a2ca0cf5ebf74b20568"
/* Its workload role (VFIO by nvidia.com/gpu.workload.config). */
#define CC_MESSAGE_BRIDGE_WORKLOAD_APPLIED "7de9dc08f75146cfb58dadc1fac19d92"
#define CC_MESSAGE_BRIDGE_WORKLOAD_FAILED  "588c32b6b19741e7900af6d92a6bc362"
/* Its kubelet device plugin. */
#define CC_MESSAGE_BRIDGE_DEVICE_PLUGIN_REGISTERED "3c3cddfa110a419295010af89e6c8739"
