/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <glib.h>
#include <stdbool.h>

#include "authorizer.h"
#include "bus-args.h"
#include "log.h"
#include "macro.h"
#include "message-ids.h"

/* polkit's CheckAuthorization flag. */
#define POLKIT_ALLOW_USER_INTERACTION 1u
/* An interactive check waits for a person to type a password. */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5ULL * 60 * 1000 * 1000)
/* Calls waiting for polkit, from one caller and from all: each holds its
 * message (at most BUS_STRING_MAX-long strings and BUS_ARRAY_MAX-long
 * arrays, bus-args.h) until polkit answers, interactive ones for minutes. */
#define PENDING_PER_SENDER_MAX 8
#define PENDING_MAX 64

static const struct {
        const char *interface;
        const char *member;
        const char *action;
} method_actions[] = {
        { "org.nvidia.ConfidentialCompute.Manager", "SetMode", "org.nvidia.ConfidentialCompute.set-mode" },
        { "org.nvidia.ConfidentialCompute.Manager", "Rescan",  "org.nvidia.ConfidentialCompute.set-mode" },
        { "org.nvidia.ConfidentialCompute.Manager", "BindVfio",   "org.nvidia.ConfidentialCompute.manage-vfio" },
        { "org.nvidia.ConfidentialCompute.Manager", "UnbindVfio", "org.nvidia.ConfidentialCompute.manage-vfio" },
        /* A plan names other users' processes: the operation's own action. */
        { "org.nvidia.ConfidentialCompute.Manager", "PlanSetMode",  "org.nvidia.ConfidentialCompute.set-mode" },
        { "org.nvidia.ConfidentialCompute.Manager", "PlanBindVfio", "org.nvidia.ConfidentialCompute.manage-vfio" },
        { "org.nvidia.ConfidentialCompute.Manager", "InstallKataArtifacts", "org.nvidia.ConfidentialCompute.manage-artifacts" },
        { "org.nvidia.ConfidentialCompute.Manager", "RemoveKataArtifacts",  "org.nvidia.ConfidentialCompute.manage-artifacts" },
        { "org.nvidia.ConfidentialCompute.Gpu",     "SetMode", "org.nvidia.ConfidentialCompute.set-mode" },
        { "org.nvidia.ConfidentialCompute.Gpu",     "BindVfio",   "org.nvidia.ConfidentialCompute.manage-vfio" },
        { "org.nvidia.ConfidentialCompute.Gpu",     "UnbindVfio", "org.nvidia.ConfidentialCompute.manage-vfio" },
};

const char *authorizer_action_for(const char *interface, const char *member) {
        for (size_t i = 0; i < ELEMENTSOF(method_actions); i++)
                if (streq_ptr(method_actions[i].interface, interface) && streq_ptr(method_actions[i].member, member))
                        return method_actions[i].action;
        return NULL;
}

struct Authorizer {
        sd_bus *bus;
        GHashTable *queries; /* sd_bus_message* -> AuthQuery* */
};

typedef struct AuthQuery {
        Authorizer *authorizer;
        sd_bus_message *request;
        char *action;
        sd_bus_slot *slot;
        uid_t uid;
        bool interactive;
        bool done;
        bool authorized;
        char *denial;
} AuthQuery;

static void auth_query_free(void *p) {
        AuthQuery *q = p;

        if (!q)
                return;
        sd_bus_slot_unref(q->slot);
        sd_bus_message_unref(q->request);
        free(q->action);
        free(q->denial);
        free(q);
}

int authorizer_new(sd_bus *bus, Authorizer **ret) {
        Authorizer *a;

        assert(bus);
        assert(ret);

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->bus = sd_bus_ref(bus);
        a->queries = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, auth_query_free);
        *ret = a;
        return 0;
}

Authorizer *authorizer_free(Authorizer *a) {
        if (!a)
                return NULL;
        g_hash_table_destroy(a->queries);
        sd_bus_unref(a->bus);
        free(a);
        return NULL;
}

/* The answer is in: run the method handler again with it. */
static void finish(AuthQuery *q, bool authorized, const char *denial) {
        int r;

        q->done = true;
        q->authorized = authorized;
        q->slot = sd_bus_slot_unref(q->slot);
        if (!authorized) {
                free(q->denial);
                q->denial = strdup(denial);
                log_struct(LOG_NOTICE,
                           LOG_MESSAGE_ID(CC_MESSAGE_AUTH_DENIED),
                           "CC_UID=%u", (unsigned) q->uid,
                           "CC_ACTION=%s", q->action,
                           LOG_MESSAGE("Denied %s to uid %u: %s", q->action, (unsigned) q->uid, denial),
                           NULL);
        }

        r = sd_bus_enqueue_for_read(q->authorizer->bus, q->request);
        if (r < 0) {
                log_error_errno(r, "Cannot queue the authorized call again: %m");
                g_hash_table_remove(q->authorizer->queries, q->request);
        }
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, r;
        char why[256];

        if (e) {
                /* Debian and others ship servers without polkitd: say so,
                 * and what still works. */
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        snprintf(why, sizeof(why),
                                 "polkit is not available: org.freedesktop.PolicyKit1 is not on the bus (install "
                                 "polkitd); until it is, only root may make changes");
                else
                        snprintf(why, sizeof(why), "polkit is not available: %s",
                                 e->message ? e->message : e->name);
                finish(q, false, why);
                return 0;
        }
        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
                finish(q, false, "polkit sent an unreadable answer");
                return 0;
        }
        if (challenge)
                snprintf(why, sizeof(why), "%s needs authentication%s", q->action,
                         q->interactive ? ", which was not given"
                                        : ", and the call did not allow interactive authorization");
        else
                snprintf(why, sizeof(why), "polkit does not authorize %s for this user", q->action);
        finish(q, authorized, why);
        return 0;
}

static int ask_polkit(AuthQuery *q) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        const char *sender = sd_bus_message_get_sender(q->request);
        bool interactive = sd_bus_message_get_allow_interactive_authorization(q->request) > 0;
        int r;

        q->interactive = interactive;
        r = sd_bus_message_new_method_call(q->authorizer->bus, &call, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r >= 0)
                r = sd_bus_message_append(call, "(sa{sv})s", "system-bus-name", 1, "name", "s", sender,
                                          q->action);
        if (r >= 0)
                r = sd_bus_message_append(call, "a{ss}us", 0,
                                          interactive ? POLKIT_ALLOW_USER_INTERACTION : 0u, "");
        if (r < 0)
                return r;
        return sd_bus_call_async(q->authorizer->bus, &q->slot, call, on_polkit_reply, q,
                                 interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC : 0);
}

static int on_uid_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        AuthQuery *q = userdata;
        uint32_t uid;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL) || sd_bus_message_read(reply, "u", &uid) < 0) {
                finish(q, false, "cannot tell who is calling");
                return 0;
        }
        q->uid = uid;
        if (uid == 0) {
                finish(q, true, NULL);
                return 0;
        }
        q->slot = sd_bus_slot_unref(q->slot);
        r = ask_polkit(q);
        if (r < 0)
                finish(q, false, "cannot ask polkit");
        return 0;
}

static int start_query(Authorizer *a, sd_bus_message *m, const char *action, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(m);
        AuthQuery *q;
        int r;

        if (!sender)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "caller has no bus name");

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->authorizer = a;
        q->request = sd_bus_message_ref(m);
        q->uid = (uid_t) -1;
        q->action = strdup(action);
        if (!q->action) {
                auth_query_free(q);
                return -ENOMEM;
        }

        r = sd_bus_call_method_async(a->bus, &q->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetConnectionUnixUser", on_uid_reply, q,
                                     "s", sender);
        if (r < 0) {
                auth_query_free(q);
                return r;
        }
        g_hash_table_insert(a->queries, m, q);
        return 0;
}

static int check_pending(Authorizer *a, sd_bus_message *m, sd_bus_error *error) {
        const char *sender = sd_bus_message_get_sender(m);
        GHashTableIter iter;
        AuthQuery *q;
        unsigned n = 0;

        if (g_hash_table_size(a->queries) >= PENDING_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "%d calls are waiting for authorization; try again later", PENDING_MAX);
        g_hash_table_iter_init(&iter, a->queries);
        while (g_hash_table_iter_next(&iter, NULL, (void **) &q))
                if (streq_ptr(sd_bus_message_get_sender(q->request), sender))
                        n++;
        if (n >= PENDING_PER_SENDER_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "%d calls of yours are waiting for authorization; wait for their answers",
                                         PENDING_PER_SENDER_MAX);
        return 0;
}

int authorizer_check(Authorizer *a, sd_bus_message *m, sd_bus_error *error) {
        const char *action;
        AuthQuery *q;

        assert(a);
        assert(m);

        action = authorizer_action_for(sd_bus_message_get_interface(m), sd_bus_message_get_member(m));
        if (!action)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "no polkit action for this method");

        q = g_hash_table_lookup(a->queries, m);
        if (!q) {
                /* Nothing large is kept while polkit thinks, nor too much. */
                int r = bus_args_check_sizes(m, error);
                if (r < 0)
                        return r;
                r = check_pending(a, m, error);
                if (r < 0)
                        return r;
                return start_query(a, m, action, error);
        }
        if (!q->done)
                return 0;
        if (!streq(q->action, action)) {
                g_hash_table_remove(a->queries, m);
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "authorization mismatch");
        }

        bool authorized = q->authorized;
        char denial[256];
        snprintf(denial, sizeof(denial), "%s", strempty(q->denial));
        g_hash_table_remove(a->queries, m);
        if (!authorized)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, denial);
        return 1;
}
