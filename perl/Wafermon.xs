/*
 * Wafermon.xs - the Perl skin's only C: a thin layer over wafermon.h.
 *
 * The core does the work. This file only
 *   - keeps each C handle (wm_client*, wm_job*) in ext magic on the object's hash, with a
 *     count of the interpreters that hold it: a new ithread's copy of the object adds one
 *     (svt_dup), freeing a copy takes one away (svt_free), and the last one frees the handle,
 *     so threads never free a handle twice;
 *   - turns Perl values into what the C ABI takes (undef and embedded NULs are refused here,
 *     invalid UTF-8 by the core);
 *   - sends every failure, ours or the core's, through one croak path: wmp_throw, which
 *     hands the status and wm_last_error() to Wafermon::Error->_throw.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"
#include "ppport.h"

#include <string.h>
#include <unistd.h>

#include <wafermon.h>

/* ---- one croak path ------------------------------------------------------------------ */

static void wmp_throw(pTHX_ int status, const char *message) {
    dSP;
    /* Copy the message first: the next wm_ call would overwrite wm_last_error(). */
    SV *text = sv_2mortal(newSVpv(message, 0));
    SvUTF8_on(text);
    ENTER;
    SAVETMPS;
    PUSHMARK(SP);
    XPUSHs(sv_2mortal(newSVpvs("Wafermon::Error")));
    XPUSHs(sv_2mortal(newSViv(status)));
    XPUSHs(text);
    PUTBACK;
    call_method("_throw", G_DISCARD);
    /* _throw always dies; this is only reached if it was redefined not to. */
    FREETMPS;
    LEAVE;
    croak("%s", message);
}

/* For frees whose failure has no caller to tell (GCC ignores a (void) cast here). */
static void wmp_ignore(wm_status status) { PERL_UNUSED_ARG(status); }

static void wmp_check(pTHX_ wm_status status) {
    if (status != WM_OK) wmp_throw(aTHX_ (int)status, wm_last_error());
}

static void wmp_invalid(pTHX_ const char *what, const char *why) {
    char message[512];
    snprintf(message, sizeof message, "invalid argument: %s %s", what, why);
    wmp_throw(aTHX_ WM_ERR_INVALID_ARGUMENT, message);
}

/* ---- strings ------------------------------------------------------------------------- */

/* A C string for the ABI. A character string gives its UTF-8; a byte string is passed as it
 * is and must be UTF-8 already (the core refuses it otherwise, naming the argument). undef is
 * refused unless optional (then NULL), and so is a NUL inside the text, which C would cut. */
static const char *wmp_text(pTHX_ SV *sv, const char *what, int optional) {
    STRLEN len;
    const char *s;
    if (sv == NULL || !SvOK(sv)) {
        if (optional) return NULL;
        wmp_invalid(aTHX_ what, "is undef");
    }
    s = SvUTF8(sv) ? SvPVutf8(sv, len) : SvPV(sv, len);
    if (memchr(s, '\0', len) != NULL) wmp_invalid(aTHX_ what, "contains a NUL character");
    return s;
}

static double wmp_number(pTHX_ SV *sv, const char *what) {
    if (sv == NULL || !SvOK(sv)) wmp_invalid(aTHX_ what, "is undef");
    if (!looks_like_number(sv)) wmp_invalid(aTHX_ what, "is not a number");
    return SvNV(sv);
}

/* ---- handles in magic ---------------------------------------------------------------- */

enum { WMP_CLIENT = 1, WMP_JOB = 2 };

typedef struct {
    void *ptr;   /* wm_client* or wm_job* */
    int kind;    /* WMP_CLIENT or WMP_JOB */
    int refs;    /* interpreters holding an object with this handle (ithreads) */
    int ended;   /* a job that finished, failed or was canceled through this object */
    pid_t pid;   /* the process that made it */
} wmp_handle;

static int wmp_magic_free(pTHX_ SV *sv, MAGIC *mg);
static int wmp_magic_dup(pTHX_ MAGIC *mg, CLONE_PARAMS *param);

static MGVTBL wmp_vtbl = {
    NULL, NULL, NULL, NULL, wmp_magic_free, NULL, wmp_magic_dup
#ifdef MGf_LOCAL
    , NULL
#endif
};

static int wmp_magic_dup(pTHX_ MAGIC *mg, CLONE_PARAMS *param) {
    wmp_handle *h = (wmp_handle *)mg->mg_ptr;
    PERL_UNUSED_ARG(param);
    if (h != NULL) __atomic_add_fetch(&h->refs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static int wmp_magic_free(pTHX_ SV *sv, MAGIC *mg) {
    wmp_handle *h = (wmp_handle *)mg->mg_ptr;
    PERL_UNUSED_ARG(sv);
    mg->mg_ptr = NULL;
    if (h == NULL || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_SEQ_CST) > 0) return 0;
    if (h->kind == WMP_JOB) {
        /* Records `canceled` for a running job; nothing for a parent's job in a forked
         * child. A failure here has no caller to tell. */
        wmp_ignore(wm_job_free((wm_job *)h->ptr));
    } else if (PL_phase == PERL_PHASE_DESTRUCT) {
        /* Global destruction frees objects in no order: jobs destroyed after this client
         * still record their ending into it. wm_close_at_exit closes it after Perl is done. */
        return 0;
    } else {
        wmp_ignore(wm_client_free((wm_client *)h->ptr));
    }
    Safefree(h);
    return 0;
}

/* A new object of `klass`: a hash holding `ptr` in magic. */
static SV *wmp_wrap(pTHX_ void *ptr, int kind, const char *klass) {
    HV *hv = newHV();
    SV *obj = newRV_noinc((SV *)hv);
    wmp_handle *h;
    MAGIC *mg;
    Newxz(h, 1, wmp_handle);
    h->ptr = ptr;
    h->kind = kind;
    h->refs = 1;
    h->pid = getpid();
    mg = sv_magicext((SV *)hv, NULL, PERL_MAGIC_ext, &wmp_vtbl, (const char *)h, 0);
    mg->mg_flags |= MGf_DUP;
    return sv_bless(obj, gv_stashpv(klass, GV_ADD));
}

static wmp_handle *wmp_handle_of(pTHX_ SV *self, int kind) {
    MAGIC *mg;
    if (SvROK(self) && SvTYPE(SvRV(self)) == SVt_PVHV &&
        (mg = mg_findext(SvRV(self), PERL_MAGIC_ext, &wmp_vtbl)) != NULL && mg->mg_ptr != NULL) {
        wmp_handle *h = (wmp_handle *)mg->mg_ptr;
        if (h->kind == kind) return h;
    }
    wmp_invalid(aTHX_ kind == WMP_JOB ? "job" : "client",
                kind == WMP_JOB ? "is not a Wafermon::Job" : "is not a Wafermon client");
    return NULL;
}

#define CLIENT(sv) ((wm_client *)wmp_handle_of(aTHX_ (sv), WMP_CLIENT)->ptr)
#define JOB(sv) ((wm_job *)wmp_handle_of(aTHX_ (sv), WMP_JOB)->ptr)

/* ---- attributes ---------------------------------------------------------------------- */

static int wmp_is_bool(pTHX_ SV *value) {
#ifdef SvIsBOOL
    if (SvIsBOOL(value)) return 1;
#endif
    return SvROK(value) && sv_isobject(value) &&
           (sv_derived_from(value, "JSON::PP::Boolean") || sv_derived_from(value, "boolean"));
}

/* Attributes keep their Perl type: integers stay exact, booleans stay booleans. */
static void wmp_attr(pTHX_ wm_job *job, const char *name, SV *value) {
    if (!SvOK(value)) wmp_invalid(aTHX_ "attribute value", "is undef");
    if (wmp_is_bool(aTHX_ value)) {
        wmp_check(aTHX_ wm_job_attr_bool(job, name, SvTRUE(value) ? 1 : 0));
    } else if (SvROK(value)) {
        wmp_invalid(aTHX_ "attribute value", "is a reference (attributes are strings, numbers or booleans)");
    } else if (SvIOK(value) && !SvNOK(value) && !SvPOK(value)) {
        if (SvIsUV(value) && SvUV(value) > (UV)IV_MAX) {
            wmp_check(aTHX_ wm_job_attr_double(job, name, (double)SvUV(value)));
        } else {
            wmp_check(aTHX_ wm_job_attr_int(job, name, (int64_t)SvIV(value)));
        }
    } else if (SvNOK(value) && !SvPOK(value)) {
        wmp_check(aTHX_ wm_job_attr_double(job, name, SvNV(value)));
    } else {
        wmp_check(aTHX_ wm_job_attr_string(job, name, wmp_text(aTHX_ value, "attribute value", 0)));
    }
}

/* Prepare, describe and begin a job; a failure frees the prepared job (it records nothing). */
static SV *wmp_job_start(pTHX_ SV *client, SV *parent, SV *name, SV *kind, SV *key, SV *id, SV *attrs) {
    wm_job *job = NULL;
    wm_status status;
    const char *n = wmp_text(aTHX_ name, "name", 0);
    const char *k = wmp_text(aTHX_ kind, "kind", 1);
    const char *bk = wmp_text(aTHX_ key, "key", 1);
    const char *i = wmp_text(aTHX_ id, "id", 1);
    HV *attr_hv = NULL;
    if (attrs != NULL && SvOK(attrs)) {
        if (!SvROK(attrs) || SvTYPE(SvRV(attrs)) != SVt_PVHV) wmp_invalid(aTHX_ "attrs", "is not a hash reference");
        attr_hv = (HV *)SvRV(attrs);
    }
    if (SvOK(parent)) {
        status = wm_job_new_sub(JOB(parent), n, &job);
    } else {
        status = wm_job_new(CLIENT(client), n, &job);
    }
    wmp_check(aTHX_ status);
    /* From here a croak must not leak the prepared job: it is freed by a mortal guard. */
    {
        SV *guard = sv_2mortal(wmp_wrap(aTHX_ job, WMP_JOB, "Wafermon::Job"));
        wmp_handle *h = wmp_handle_of(aTHX_ guard, WMP_JOB);
        h->ended = 1; /* not begun: nothing to end on destruction */
        if (k != NULL) wmp_check(aTHX_ wm_job_set_kind(job, k));
        if (bk != NULL) wmp_check(aTHX_ wm_job_set_key(job, bk));
        if (i != NULL) wmp_check(aTHX_ wm_job_set_id(job, i));
        if (attr_hv != NULL) {
            HE *he;
            hv_iterinit(attr_hv);
            while ((he = hv_iternext(attr_hv)) != NULL) {
                SV *key_sv = hv_iterkeysv(he);
                wmp_attr(aTHX_ job, wmp_text(aTHX_ key_sv, "attribute name", 0), hv_iterval(attr_hv, he));
            }
        }
        wmp_check(aTHX_ wm_job_begin(job));
        h->ended = 0;
        return SvREFCNT_inc_simple_NN(guard);
    }
}

static void wmp_end(pTHX_ SV *self, int how, SV *message) {
    wmp_handle *h = wmp_handle_of(aTHX_ self, WMP_JOB);
    wm_job *job = (wm_job *)h->ptr;
    if (how == 0) {
        wmp_check(aTHX_ wm_job_finish(job));
    } else {
        const char *m = wmp_text(aTHX_ message, "message", 0);
        wmp_check(aTHX_ how == 1 ? wm_job_fail(job, m) : wm_job_cancel(job, m));
    }
    h->ended = 1;
}

MODULE = Wafermon    PACKAGE = Wafermon

PROTOTYPES: DISABLE

const char *
library_version(...)
  CODE:
    RETVAL = wm_version();
  OUTPUT:
    RETVAL

SV *
_client_new(klass, source, what, program, exit_timeout_ms)
    const char *klass
    const char *source
    SV *what
    SV *program
    UV exit_timeout_ms
  PREINIT:
    wm_config *config = NULL;
    wm_client *client = NULL;
    wm_status status;
    const char *p;
  CODE:
    p = wmp_text(aTHX_ program, "program", 0);
    if (strEQ(source, "json")) {
        status = wm_config_from_json(wmp_text(aTHX_ what, "config", 0), &config);
    } else if (strEQ(source, "file")) {
        status = wm_config_from_file(wmp_text(aTHX_ what, "config", 0), &config);
    } else {
        status = wm_config_from_env(&config);
    }
    wmp_check(aTHX_ status);
    status = wm_client_new_for_program(config, p, &client);
    if (status != WM_OK) {
        SV *message = sv_2mortal(newSVpv(wm_last_error(), 0));
        wmp_ignore(wm_config_free(config));
        wmp_throw(aTHX_ (int)status, SvPV_nolen(message));
    }
    wmp_ignore(wm_config_free(config));
    RETVAL = wmp_wrap(aTHX_ client, WMP_CLIENT, klass);
    /* Perl has no exit hook that runs after global destruction; the core's does. */
    wmp_check(aTHX_ wm_close_at_exit(client, (uint64_t)exit_timeout_ms));
  OUTPUT:
    RETVAL

void
_config_check(klass, source, what)
    const char *klass
    const char *source
    SV *what
  PREINIT:
    wm_config *config = NULL;
  CODE:
    PERL_UNUSED_VAR(klass);
    if (strEQ(source, "json")) {
        wmp_check(aTHX_ wm_config_from_json(wmp_text(aTHX_ what, "config", 0), &config));
    } else if (strEQ(source, "file")) {
        wmp_check(aTHX_ wm_config_from_file(wmp_text(aTHX_ what, "config", 0), &config));
    } else {
        wmp_check(aTHX_ wm_config_from_env(&config));
    }
    wmp_ignore(wm_config_free(config));

int
_flush(self, timeout_ms)
    SV *self
    UV timeout_ms
  PREINIT:
    wm_status status;
  CODE:
    status = wm_flush(CLIENT(self), (uint64_t)timeout_ms);
    if (status != WM_ERR_TIMEOUT) wmp_check(aTHX_ status);
    RETVAL = status == WM_OK;
  OUTPUT:
    RETVAL

int
_close(self, timeout_ms)
    SV *self
    UV timeout_ms
  PREINIT:
    wm_status status;
  CODE:
    status = wm_close(CLIENT(self), (uint64_t)timeout_ms);
    if (status != WM_ERR_TIMEOUT) wmp_check(aTHX_ status);
    RETVAL = status == WM_OK;
  OUTPUT:
    RETVAL

SV *
_stats_json(self)
    SV *self
  PREINIT:
    char *text = NULL;
  CODE:
    wmp_check(aTHX_ wm_stats_json(CLIENT(self), &text));
    RETVAL = newSVpv(text, 0);
    SvUTF8_on(RETVAL);
    wmp_ignore(wm_string_free(text));
  OUTPUT:
    RETVAL

void
emit_json(self, json)
    SV *self
    SV *json
  CODE:
    wmp_check(aTHX_ wm_emit_json(CLIENT(self), wmp_text(aTHX_ json, "event", 0)));

SV *
_job_start(client, parent, name, kind, key, id, attrs)
    SV *client
    SV *parent
    SV *name
    SV *kind
    SV *key
    SV *id
    SV *attrs
  CODE:
    RETVAL = wmp_job_start(aTHX_ client, parent, name, kind, key, id, attrs);
  OUTPUT:
    RETVAL

void
_debug_panic(...)
  CODE:
    wmp_check(aTHX_ wm_debug_panic());

MODULE = Wafermon    PACKAGE = Wafermon::Job

const char *
id(self)
    SV *self
  PREINIT:
    const char *out = NULL;
  CODE:
    wmp_check(aTHX_ wm_job_id(JOB(self), &out));
    RETVAL = out;
  OUTPUT:
    RETVAL

SV *
progress(self, percent, message = NULL)
    SV *self
    SV *percent
    SV *message
  CODE:
    wmp_check(aTHX_ wm_job_progress(JOB(self), wmp_number(aTHX_ percent, "percent"),
                                    wmp_text(aTHX_ message, "message", 1)));
    RETVAL = SvREFCNT_inc_simple_NN(self);
  OUTPUT:
    RETVAL

SV *
metric(self, ...)
    SV *self
  PREINIT:
    wm_job *job;
    I32 i;
  CODE:
    job = JOB(self);
    if (items < 3 || items % 2 == 0) wmp_invalid(aTHX_ "metric", "needs name => value pairs");
    for (i = 1; i < items; i += 2) {
        wmp_check(aTHX_ wm_job_metric(job, wmp_text(aTHX_ ST(i), "metric name", 0),
                                      wmp_number(aTHX_ ST(i + 1), "metric value")));
    }
    RETVAL = SvREFCNT_inc_simple_NN(self);
  OUTPUT:
    RETVAL

SV *
log(self, level, message)
    SV *self
    SV *level
    SV *message
  CODE:
    wmp_check(aTHX_ wm_job_log(JOB(self), wmp_text(aTHX_ level, "level", 0),
                               wmp_text(aTHX_ message, "message", 0)));
    RETVAL = SvREFCNT_inc_simple_NN(self);
  OUTPUT:
    RETVAL

void
finish(self)
    SV *self
  CODE:
    wmp_end(aTHX_ self, 0, NULL);

void
fail(self, message)
    SV *self
    SV *message
  CODE:
    wmp_end(aTHX_ self, 1, message);

void
cancel(self, message)
    SV *self
    SV *message
  CODE:
    wmp_end(aTHX_ self, 2, message);

int
_open(self)
    SV *self
  PREINIT:
    MAGIC *mg;
  CODE:
    /* Running, as far as this object knows, and started by this process. Never croaks:
     * DESTROY asks it, also of an object whose handle is gone. */
    RETVAL = 0;
    if (SvROK(self) && SvTYPE(SvRV(self)) == SVt_PVHV &&
        (mg = mg_findext(SvRV(self), PERL_MAGIC_ext, &wmp_vtbl)) != NULL && mg->mg_ptr != NULL) {
        wmp_handle *h = (wmp_handle *)mg->mg_ptr;
        RETVAL = h->kind == WMP_JOB && !h->ended && h->pid == getpid();
    }
  OUTPUT:
    RETVAL

int
_last(self)
    SV *self
  CODE:
    /* No other interpreter (ithread) holds this job. */
    RETVAL = __atomic_load_n(&wmp_handle_of(aTHX_ self, WMP_JOB)->refs, __ATOMIC_SEQ_CST) == 1;
  OUTPUT:
    RETVAL
