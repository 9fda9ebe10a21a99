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
