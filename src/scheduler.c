/*
 * scheduler.c: the scheduler: slots with their fetchers, the memory budget and
 * the CPU class, behind one API (see scheduler.h).
 *
 * Locking: struct sched itself is read-only after sched_new(); the slots
 * (slots.c) and the budget (admission.c) each have their own lock, and a
 * slot's fetcher is used only by the request holding the slot.
 */
#include <stdlib.h>

#include "config.h"
#include "fetch.h"
#include "memlimit.h"
#include "scheduler.h"
#include "slots.h"
#include "banned.h"

struct sched {
    int nslots;
    struct slots *slots;       /* owned */
    struct fetcher **fetchers; /* owned: slot i's fetcher */
    struct admission *adm;     /* owned; NULL: no memory budget */
    bool gate_on;              /* this scheduler turned the CPU gate on */
    long admit_wait_ms;        /* see struct sched_config */
};

void sched_config_from(struct sched_config *sc, const struct config *c)
{
    sc->slots = c->workers;
    sc->queue_max = c->requests_queue_size;
    if (c->memory_budget < 0) { /* auto: a fraction of the cgroup limit or of MemTotal */
        struct memlimit m;

        memlimit_read("", &m);
        sc->memory_budget = memlimit_budget(&m);
    } else {
        sc->memory_budget = (size_t)c->memory_budget;
    }
    sc->starve_ms = (long)c->timeout * 1000 / 4;
    sc->admit_wait_ms = c->admission_wait_ms;
    sc->cpu_gate = true;
}

struct sched *sched_new(const struct sched_config *sc)
{
    struct sched *s;

    if (sc->slots < 1 || sc->queue_max < 0)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->nslots = sc->slots;
    s->admit_wait_ms = sc->admit_wait_ms;
    s->slots = slots_new(sc->slots, sc->queue_max);
    s->fetchers = calloc((size_t)sc->slots, sizeof(*s->fetchers));
    if (s->slots == NULL || s->fetchers == NULL)
        goto failed;
    for (int i = 0; i < sc->slots; i++) {
        s->fetchers[i] = fetcher_new();
        if (s->fetchers[i] == NULL)
            goto failed;
    }
    if (sc->memory_budget > 0) {
        s->adm = admission_new(sc->memory_budget, sc->starve_ms);
        if (s->adm == NULL)
            goto failed;
        if (sc->cpu_gate) {
            cpugate_enable(0, true); /* small requests get the CPU first (cpugate.h) */
            s->gate_on = true;
        }
    }
    return s;

failed:
    sched_free(s);
    return NULL;
}

void sched_free(struct sched *s)
{
    if (s == NULL)
        return;
    if (s->gate_on)
        cpugate_disable();
    admission_free(s->adm);
    for (int i = 0; s->fetchers != NULL && i < s->nslots; i++)
        fetcher_free(s->fetchers[i]);
    free(s->fetchers);
    slots_free(s->slots);
    free(s);
}

void sched_req_init(struct sched_req *r, struct sched *s)
{
    *r = (struct sched_req){.s = s, .slot = -1};
}

int sched_slot_take(struct sched_req *r, const struct deadline *d)
{
    int slot = slots_acquire(r->s->slots, d);

    if (slot == SLOTS_FULL)
        return SCHED_QUEUE_FULL;
    if (slot < 0)
        return SCHED_TIMEOUT;
    r->slot = slot;
    return 0;
}

struct fetcher *sched_fetcher(const struct sched_req *r)
{
    return r->slot >= 0 ? r->s->fetchers[r->slot] : NULL;
}

bool sched_budget_on(const struct sched *s)
{
    return s->adm != NULL;
}

/* admission_wait_fn: a request about to wait for memory gives its slot back. */
static void give_slot_back(void *arg)
{
    sched_slot_put(arg);
}

int sched_admit(struct sched_req *r, VipsImage *header, size_t len, enum imgtype type,
                const struct procopts *po, const char *accept, const struct deadline *d,
                struct errinfo *e)
{
    bool had_slot = r->slot >= 0;
    struct deadline wait;
    const struct deadline *until = d;
    int ret;

    if (r->s->adm == NULL)
        return 0;
    if (r->s->admit_wait_ms > 0) {
        /*
         * A shorter wait for memory than the request's deadline: the 503 then comes
         * early enough for a front (nginx's fastcgi_next_upstream http_503) to try
         * another host within the client's time.
         */
        long long now = deadline_now_ms();
        long long left =
            d != NULL ? deadline_cap_ms(d, now, r->s->admit_wait_ms) : r->s->admit_wait_ms;

        if (left > 0) {
            deadline_start(&wait, now, left);
            until = &wait;
        }
    }
    /*
     * Admitted at once, the request keeps its slot; one that must wait for
     * memory gives it back first (the download is done, only processing
     * needs one again), so a thumbnail is not kept waiting behind it.
     */
    ret = admission_request_begin(r->s->adm, &r->ticket, header, len, type, po, accept, until,
                                  give_slot_back, r, e);
    if (ret < 0)
        return SCHED_REFUSED;
    if (had_slot && r->slot < 0) {
        ret = sched_slot_take(r, d);
        if (ret < 0)
            return ret;
    }
    /* Until sched_admit_end(): a thumbnail's strips go first, a big request's yield. */
    cpugate_request_begin(r->ticket.adm == NULL                ? CPUGATE_NONE
                          : admission_ticket_small(&r->ticket) ? CPUGATE_SMALL
                                                               : CPUGATE_BIG);
    return 0;
}

void sched_admit_end(struct sched_req *r)
{
    admission_request_end(&r->ticket); /* a big one's memory release runs at its priority */
    cpugate_request_end();
}

void sched_slot_put(struct sched_req *r)
{
    if (r->slot < 0)
        return;
    slots_release(r->s->slots, r->slot);
    r->slot = -1;
}

void sched_get_stats(struct sched *s, struct sched_stats *st)
{
    *st = (struct sched_stats){.budget_on = s->adm != NULL};
    slots_counts(s->slots, &st->slots_in_use, &st->slots_waiting);
    if (s->adm == NULL)
        return;
    admission_get_stats(s->adm, &st->memory);
    cpugate_get_stats(&st->cpu);
    st->cpu_mode = !cpugate_enabled() ? 0 : cpugate_uses_nice() ? 2 : 1;
}
