/*
 * conformance: runs the shared vectors of core/conformance through the C ABI.
 *
 *   conformance CONFORMANCE_DIR
 *
 * The format is described in CONFORMANCE_DIR/README.md; this runner does what the Rust
 * runner (core/tests/conformance.rs) does, except validating against the JSON schemas
 * (the Rust suite does that for the same vectors). Finding no vectors is a failure.
 */
#define _XOPEN_SOURCE 700

#include <ctype.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <wafermon.h>

/* ---- reporting ---------------------------------------------------------------------- */

static int passed, failed;
static char reason[16384]; /* why the current vector failed */

/* Record why the current vector failed; always returns 0 (false). */
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return 0;
}

static void report(int ok, const char *group, const char *name) {
    if (ok) {
        passed++;
        printf("ok   %s: %s\n", group, name);
    } else {
        failed++;
        printf("FAIL %s: %s\n     %s\n", group, name, reason);
    }
    reason[0] = '\0';
}

/* ---- files -------------------------------------------------------------------------- */

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf != NULL && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) buf[len] = '\0';
    return buf;
}

static cJSON *load_json(const char *path) {
    char *text = read_file(path);
    if (text == NULL) {
        fail("cannot read %s", path);
        return NULL;
    }
    cJSON *json = cJSON_Parse(text);
    if (json == NULL) fail("%s is not valid JSON (near: %.40s)", path, cJSON_GetErrorPtr());
    free(text);
    return json;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Append every event of every *.jsonl file under dir to events; 0 on a bad line. */
static int collect_events(const char *dir, cJSON *events) {
    DIR *d = opendir(dir);
    if (d == NULL) return 1; /* nothing written yet */
    struct dirent *e;
    int ok = 1;
    while (ok && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (is_dir(path)) {
            ok = collect_events(path, events);
        } else if (ends_with(e->d_name, ".jsonl")) {
            char *text = read_file(path);
            if (text == NULL) {
                ok = fail("cannot read %s", path);
                break;
            }
            for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
                if (*line == '\0') continue;
                cJSON *event = cJSON_Parse(line);
                if (event == NULL) {
                    ok = fail("bad line in %s: %.200s", path, line);
                    break;
                }
                cJSON_AddItemToArray(events, event);
            }
            free(text);
        }
    }
    closedir(d);
    return ok;
}

static double seq_of(const cJSON *event) {
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(event, "seq");
    return cJSON_IsNumber(seq) ? seq->valuedouble : 0.0;
}

static int by_seq(const void *a, const void *b) {
    double x = seq_of(*(cJSON *const *)a), y = seq_of(*(cJSON *const *)b);
    return (x > y) - (x < y);
}

/* Every event under dir, sorted by seq (NULL on error). */
static cJSON *read_events(const char *dir) {
    cJSON *found = cJSON_CreateArray();
    if (!collect_events(dir, found)) {
        cJSON_Delete(found);
        return NULL;
    }
    int n = cJSON_GetArraySize(found);
    cJSON **items = calloc((size_t)n + 1, sizeof *items);
    for (int i = 0; i < n; i++) items[i] = cJSON_DetachItemFromArray(found, 0);
    qsort(items, (size_t)n, sizeof *items, by_seq);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(found, items[i]);
    free(items);
    return found;
}

/* ---- clients ------------------------------------------------------------------------ */

/* The runner's config (JSONL under dir/data, spool under dir/spool), with `extra` merged
 * one level deep, exactly as core/tests/common/mod.rs builds it. */
static cJSON *config_in(const char *dir, const cJSON *extra) {
    char data[4096], spool[4096];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    cJSON *config = cJSON_CreateObject();
    cJSON *app = cJSON_AddObjectToObject(config, "app");
    cJSON_AddStringToObject(app, "name", "test-app");
    cJSON_AddStringToObject(app, "version", "1.0");
    cJSON_AddStringToObject(app, "site_id", "fab-t");
    cJSON_AddStringToObject(app, "instance_id", "i-1");
    cJSON *backend = cJSON_CreateObject();
    cJSON_AddStringToObject(backend, "type", "filesystem");
    cJSON_AddStringToObject(backend, "path", data);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(config, "direct_backends"), backend);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(config, "spool"), "path", spool);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(config, "batch"), "flush_interval", 0.05);
    if (!cJSON_IsObject(extra)) return config;
    const cJSON *item;
    cJSON_ArrayForEach(item, extra) {
        cJSON *base = cJSON_GetObjectItemCaseSensitive(config, item->string);
        if (cJSON_IsObject(base) && cJSON_IsObject(item)) {
            const cJSON *inner;
            cJSON_ArrayForEach(inner, item) {
                cJSON_DeleteItemFromObjectCaseSensitive(base, inner->string);
                cJSON_AddItemToObject(base, inner->string, cJSON_Duplicate(inner, 1));
            }
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(config, item->string);
            cJSON_AddItemToObject(config, item->string, cJSON_Duplicate(item, 1));
        }
    }
    return config;
}

static wm_client *client_in(const char *dir, const cJSON *extra) {
    cJSON *config_json = config_in(dir, extra);
    char *text = cJSON_PrintUnformatted(config_json);
    cJSON_Delete(config_json);
    wm_config *config = NULL;
    wm_client *client = NULL;
    wm_status status = wm_config_from_json(text, &config);
    free(text);
    if (status != WM_OK) {
        fail("the runner's config was rejected: %s", wm_last_error());
        return NULL;
    }
    status = wm_client_new(config, &client);
    if (status != WM_OK) fail("wm_client_new: %s", wm_last_error());
    if (wm_config_free(config) != WM_OK) fail("wm_config_free: %s", wm_last_error());
    return client;
}

/* Close the client and check that nothing is left undelivered. */
static int close_client(wm_client *client) {
    if (wm_close(client, 10000) != WM_OK) return fail("wm_close: %s", wm_last_error());
    char *text = NULL;
    if (wm_stats_json(client, &text) != WM_OK) return fail("wm_stats_json: %s", wm_last_error());
    cJSON *stats = cJSON_Parse(text);
    const cJSON *queued = cJSON_GetObjectItemCaseSensitive(stats, "queued");
    int ok = cJSON_IsNumber(queued) || fail("stats without \"queued\": %s", text);
    double pending = ok ? queued->valuedouble : 0.0;
    const cJSON *backend;
    cJSON_ArrayForEach(backend, cJSON_GetObjectItemCaseSensitive(stats, "backends")) {
        queued = cJSON_GetObjectItemCaseSensitive(backend, "queued");
        if (cJSON_IsNumber(queued)) pending += queued->valuedouble;
    }
    if (ok && pending != 0.0) ok = fail("%g events still pending after close: %s", pending, text);
    cJSON_Delete(stats);
    if (wm_string_free(text) != WM_OK) ok = fail("wm_string_free: %s", wm_last_error());
    return ok;
}

/* ---- errors ------------------------------------------------------------------------- */

static const char *const KIND_NAMES[] = {
    [WM_OK] = "ok",
    [WM_ERR_INVALID_ARGUMENT] = "invalid_argument",
    [WM_ERR_INVALID_CONFIG] = "invalid_config",
    [WM_ERR_INVALID_EVENT] = "invalid_event",
    [WM_ERR_CLOSED] = "closed",
    [WM_ERR_TIMEOUT] = "timeout",
    [WM_ERR_IO] = "io",
    [WM_ERR_BACKEND] = "backend",
    [WM_ERR_PANIC] = "panic",
};

static const char *kind_name(int status) {
    if (status < 0 || status > WM_ERR_PANIC) return "?";
    return KIND_NAMES[status];
}

/* The header's names of the statuses, to check error_kinds.json's c_status against. */
static const char *const STATUS_NAMES[] = {
    [WM_OK] = "WM_OK",
    [WM_ERR_INVALID_ARGUMENT] = "WM_ERR_INVALID_ARGUMENT",
    [WM_ERR_INVALID_CONFIG] = "WM_ERR_INVALID_CONFIG",
    [WM_ERR_INVALID_EVENT] = "WM_ERR_INVALID_EVENT",
    [WM_ERR_CLOSED] = "WM_ERR_CLOSED",
    [WM_ERR_TIMEOUT] = "WM_ERR_TIMEOUT",
    [WM_ERR_IO] = "WM_ERR_IO",
    [WM_ERR_BACKEND] = "WM_ERR_BACKEND",
    [WM_ERR_PANIC] = "WM_ERR_PANIC",
};

#define STATUS_COUNT ((int)(sizeof STATUS_NAMES / sizeof STATUS_NAMES[0]))

/* One entry of error_kinds.json: its status has the file's name, and (for a core kind) this
 * table's kind name is the file's. Marks the value as seen. */
static int check_status_entry(const cJSON *entry, int is_kind, int *seen) {
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(entry, "c_value");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(entry, "c_status");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(entry, "name");
    if (!cJSON_IsNumber(value) || !cJSON_IsString(status)) return fail("an entry lacks c_value or c_status");
    int v = value->valueint;
    if (v < 0 || v >= STATUS_COUNT) return fail("%s = %d is not a wm_status of the header", status->valuestring, v);
    if (seen[v]++) return fail("wm_status %d is listed twice", v);
    if (strcmp(STATUS_NAMES[v], status->valuestring) != 0)
        return fail("wm_status %d is %s in the header, %s in the file", v, STATUS_NAMES[v], status->valuestring);
    if (is_kind && (!cJSON_IsString(name) || strcmp(KIND_NAMES[v], name->valuestring) != 0))
        return fail("%s: the C table says '%s', the file '%s'", status->valuestring, KIND_NAMES[v],
                    cJSON_IsString(name) ? name->valuestring : "(no name)");
    return 1;
}

/* error_kinds.json: the C error table covers exactly the core's kinds plus WM_OK and
 * WM_ERR_PANIC, with the same names and values. */
static int run_error_kinds(const char *root) {
    char path[4096];
    snprintf(path, sizeof path, "%s/error_kinds.json", root);
    cJSON *file = load_json(path);
    int ok = file != NULL;
    int seen[STATUS_COUNT] = {0};
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(file, "kinds")) {
        ok = ok && check_status_entry(entry, 1, seen);
    }
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(file, "c_only")) {
        ok = ok && check_status_entry(entry, 0, seen);
    }
    for (int v = 0; ok && v < STATUS_COUNT; v++) {
        if (!seen[v]) ok = fail("%s is not in error_kinds.json", STATUS_NAMES[v]);
    }
    report(ok, "error kinds", "the wm_status table is error_kinds.json");
    cJSON_Delete(file);
    return 1;
}

/* A call that was expected to fail as `expected` ({"kind"?, "path"}) returned `status` with
 * `message`. `default_kind` applies when the vector names no kind. */
static int check_error(int status, const char *message, const cJSON *expected,
                       const char *default_kind) {
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(expected, "kind");
    const char *want = cJSON_IsString(kind) ? kind->valuestring : default_kind;
    if (status == WM_OK) return fail("succeeded, but should have failed with %s", want);
    if (strcmp(kind_name(status), want) != 0) {
        return fail("failed with %s, want %s: %s", kind_name(status), want, message);
    }
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(expected, "path");
    const char *p = cJSON_IsString(path) ? path->valuestring : "";
    if (*p == '\0') {
        char what[64];
        snprintf(what, sizeof what, "%s", want);
        for (char *c = what; *c; c++) {
            if (*c == '_') *c = ' ';
        }
        if (strncmp(message, what, strlen(what)) != 0) {
            return fail("message should start with '%s': %s", what, message);
        }
    } else {
        char needle[512];
        snprintf(needle, sizeof needle, "at %s:", p);
        if (strstr(message, needle) == NULL) {
            return fail("message should name '%s': %s", needle, message);
        }
    }
    return 1;
}

/* ---- scenarios ---------------------------------------------------------------------- */

typedef struct {
    char alias[128];
    char id[256];
    wm_job *job; /* NULL once dropped */
} job_entry;

typedef struct {
    job_entry items[256];
    int len;
} jobs_t;

static job_entry *find_job(jobs_t *jobs, const char *alias) {
    for (int i = jobs->len - 1; i >= 0; i--) {
        if (strcmp(jobs->items[i].alias, alias) == 0) return &jobs->items[i];
    }
    return NULL;
}

static const char *text_field(const cJSON *step, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(step, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

#define RUNNER_ERROR (-1) /* the vector itself is unusable; `reason` says why */

/* Look up the running job named by step[field]. */
static wm_job *step_job(jobs_t *jobs, const cJSON *step, const char *field) {
    const char *alias = text_field(step, field);
    job_entry *entry = alias ? find_job(jobs, alias) : NULL;
    if (entry == NULL) {
        fail("step names no started job in '%s'", field);
        return NULL;
    }
    if (entry->job == NULL) {
        fail("job '%s' was dropped", alias);
        return NULL;
    }
    return entry->job;
}

/* Options JSON for job_start/subjob_start from the step (NULL when it has none). */
static char *job_options(const cJSON *step) {
    cJSON *options = cJSON_CreateObject();
    const char *keys[] = {"kind", "key", "id", "attrs"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(step, keys[i]);
        if (v != NULL) cJSON_AddItemToObject(options, keys[i], cJSON_Duplicate(v, 1));
    }
    char *text = cJSON_GetArraySize(options) > 0 ? cJSON_PrintUnformatted(options) : NULL;
    cJSON_Delete(options);
    return text;
}

static char *event_text(const cJSON *event) {
    /* A string is raw text (e.g. malformed JSON); anything else is sent as JSON. */
    if (cJSON_IsString(event)) return strdup(event->valuestring);
    return cJSON_PrintUnformatted(event);
}

static int run_step(wm_client *client, jobs_t *jobs, const cJSON *step) {
    const char *op = text_field(step, "op");
    if (op == NULL) return fail("step without \"op\""), RUNNER_ERROR;
    if (strcmp(op, "job_start") == 0 || strcmp(op, "subjob_start") == 0) {
        const char *name = text_field(step, "name");
        const char *alias = text_field(step, "as");
        if (name == NULL || alias == NULL) return fail("%s needs \"name\" and \"as\"", op), RUNNER_ERROR;
        if (jobs->len == (int)(sizeof jobs->items / sizeof jobs->items[0])) {
            return fail("too many jobs"), RUNNER_ERROR;
        }
        char *options = job_options(step);
        wm_job *job = NULL;
        wm_status status;
        if (strcmp(op, "job_start") == 0) {
            status = wm_job_start(client, name, options, &job);
        } else {
            wm_job *parent = step_job(jobs, step, "parent");
            if (parent == NULL) {
                free(options);
                return RUNNER_ERROR;
            }
            status = wm_job_start_sub(parent, name, options, &job);
        }
        free(options);
        if (status != WM_OK) return status;
        job_entry *entry = &jobs->items[jobs->len++];
        snprintf(entry->alias, sizeof entry->alias, "%s", alias);
        entry->job = job;
        const char *id = NULL;
        if (wm_job_id(job, &id) != WM_OK) return fail("wm_job_id: %s", wm_last_error()), RUNNER_ERROR;
        snprintf(entry->id, sizeof entry->id, "%s", id);
        return WM_OK;
    }
    if (strcmp(op, "emit") == 0) {
        char *text = event_text(cJSON_GetObjectItemCaseSensitive(step, "event"));
        wm_status status = wm_emit_json(client, text);
        free(text);
        return status;
    }
    wm_job *job = step_job(jobs, step, "job");
    if (job == NULL) return RUNNER_ERROR;
    const cJSON *number;
    if (strcmp(op, "progress") == 0) {
        number = cJSON_GetObjectItemCaseSensitive(step, "percent");
        if (!cJSON_IsNumber(number)) return fail("progress needs \"percent\""), RUNNER_ERROR;
        return wm_job_progress(job, number->valuedouble, text_field(step, "message"));
    }
    if (strcmp(op, "metric") == 0) {
        number = cJSON_GetObjectItemCaseSensitive(step, "value");
        const char *name = text_field(step, "name");
        if (!cJSON_IsNumber(number) || name == NULL) return fail("metric needs \"name\" and \"value\""), RUNNER_ERROR;
        return wm_job_metric(job, name, number->valuedouble);
    }
    const char *message = text_field(step, "message");
    if (strcmp(op, "log") == 0) {
        const char *level = text_field(step, "level");
        if (level == NULL || message == NULL) return fail("log needs \"level\" and \"message\""), RUNNER_ERROR;
        return wm_job_log(job, level, message);
    }
    if (strcmp(op, "finish") == 0) return wm_job_finish(job);
    if ((strcmp(op, "fail") == 0 || strcmp(op, "cancel") == 0) && message == NULL) {
        return fail("%s needs \"message\"", op), RUNNER_ERROR;
    }
    if (strcmp(op, "fail") == 0) return wm_job_fail(job, message);
    if (strcmp(op, "cancel") == 0) return wm_job_cancel(job, message);
    if (strcmp(op, "drop") == 0) {
        wm_status status = wm_job_free(job);
        find_job(jobs, text_field(step, "job"))->job = NULL;
        return status;
    }
    return fail("unknown op '%s'", op), RUNNER_ERROR;
}

static int is_uuid_v7(const char *s) {
    if (strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[14] == '7' && strchr("89ab", s[19]) != NULL;
}

/* YYYY-MM-DDTHH:MM:SS.ffffffZ */
static int is_micro_time(const char *s) {
    const char *pattern = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (strlen(s) != strlen(pattern)) return 0;
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pattern[i]) return 0;
    }
    return 1;
}

static void replace_with_string(cJSON *object, const char *key, const char *text) {
    cJSON_ReplaceItemInObjectCaseSensitive(object, key, cJSON_CreateString(text));
}

/* Check and replace what differs from run to run (see the README). */
static int normalize(cJSON *event, const jobs_t *jobs, double *last_seq) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(event, "id");
    if (!cJSON_IsString(id) || !is_uuid_v7(id->valuestring)) return fail("id is not a UUIDv7");
    replace_with_string(event, "id", "<id>");
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(event, "time");
    if (!cJSON_IsString(time) || !is_micro_time(time->valuestring)) {
        return fail("time %s is not YYYY-MM-DDTHH:MM:SS.ffffffZ", cJSON_IsString(time) ? time->valuestring : "?");
    }
    replace_with_string(event, "time", "<time>");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(event, "seq");
    if (!cJSON_IsNumber(seq) || !(seq->valuedouble > *last_seq)) return fail("seq does not increase strictly");
    *last_seq = seq->valuedouble;
    replace_with_string(event, "seq", "<seq>");
    cJSON *entity = cJSON_GetObjectItemCaseSensitive(event, "entity");
    const char *fields[] = {"id", "parent"};
    for (int f = 0; f < 2; f++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(entity, fields[f]);
        if (!cJSON_IsString(v)) continue;
        for (int j = 0; j < jobs->len; j++) {
            if (strcmp(v->valuestring, jobs->items[j].id) == 0) {
                char alias[160];
                snprintf(alias, sizeof alias, "<job:%s>", jobs->items[j].alias);
                replace_with_string(entity, fields[f], alias);
                break;
            }
        }
    }
    cJSON *metrics = cJSON_GetObjectItemCaseSensitive(event, "metrics");
    const char *resource[] = {"cpu_user_s", "cpu_system_s", "max_rss_bytes", "duration_s"};
    for (int r = 0; r < 4; r++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(metrics, resource[r]);
        if (v == NULL) continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) return fail("%s is not a number >= 0", resource[r]);
        replace_with_string(metrics, resource[r], "<number>");
    }
    return 1;
}

static int run_scenario(const cJSON *scenario) {
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(scenario, "steps");
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(scenario, "expect");
    if (!cJSON_IsArray(steps) || !cJSON_IsArray(expect)) return fail("needs \"steps\" and \"expect\" arrays");
    char dir[] = "/tmp/wafermon-conformance-XXXXXX";
    if (mkdtemp(dir) == NULL) return fail("mkdtemp failed");
    wm_client *client = client_in(dir, cJSON_GetObjectItemCaseSensitive(scenario, "config"));
    if (client == NULL) {
        remove_tree(dir);
        return 0;
    }
    static jobs_t jobs;
    jobs.len = 0;
    int ok = 1, i = 0;
    const cJSON *step;
    cJSON_ArrayForEach(step, steps) {
        int status = run_step(client, &jobs, step);
        char message[4096];
        snprintf(message, sizeof message, "%s", wm_last_error());
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(step, "error");
        if (status == RUNNER_ERROR) {
            ok = 0;
        } else if (error == NULL && status != WM_OK) {
            ok = fail("step %d (%s) failed: %s", i, text_field(step, "op"), message);
        } else if (error != NULL && !check_error(status, message, error, "?")) {
            char inner[sizeof reason];
            snprintf(inner, sizeof inner, "%s", reason);
            ok = fail("step %d (%s): %s", i, text_field(step, "op"), inner);
        }
        if (!ok) break;
        i++;
    }
    /* Like the Rust runner: close first, then release what is still held. */
    if (!close_client(client)) ok = 0;
    for (int j = 0; j < jobs.len; j++) {
        if (wm_job_free(jobs.items[j].job) != WM_OK) ok = fail("wm_job_free: %s", wm_last_error());
    }
    if (wm_client_free(client) != WM_OK) ok = fail("wm_client_free: %s", wm_last_error());

    char data[4096];
    snprintf(data, sizeof data, "%s/data", dir);
    cJSON *events = ok ? read_events(data) : NULL;
    if (events != NULL) {
        double last_seq = 0;
        const cJSON *want = expect->child;
        int n = 0;
        cJSON *got;
        cJSON_ArrayForEach(got, events) {
            if (!normalize(got, &jobs, &last_seq)) {
                ok = 0;
                break;
            }
        }
        if (ok && cJSON_GetArraySize(events) != cJSON_GetArraySize(expect)) {
            char *all = cJSON_Print(events);
            ok = fail("got %d events, want %d:\n%s", cJSON_GetArraySize(events), cJSON_GetArraySize(expect), all);
            free(all);
        }
        cJSON_ArrayForEach(got, events) {
            if (!ok) break;
            if (!cJSON_Compare(got, want, 1)) {
                char *g = cJSON_PrintUnformatted(got), *w = cJSON_PrintUnformatted(want);
                ok = fail("event %d differs\n      got: %s\n     want: %s", n, g, w);
                free(g);
                free(w);
            }
            want = want->next;
            n++;
        }
        cJSON_Delete(events);
    } else {
        ok = 0;
    }
    remove_tree(dir);
    return ok;
}

static int run_scenarios(const char *root) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/scenarios", root);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (ends_with(names[i]->d_name, ".json")) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            cJSON *scenario = load_json(path);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(scenario, "name");
            char label[512];
            snprintf(label, sizeof label, "%s: %s", names[i]->d_name,
                     cJSON_IsString(name) ? name->valuestring : "(unnamed)");
            report(scenario != NULL && run_scenario(scenario), "scenario", label);
            cJSON_Delete(scenario);
            count++;
        }
        free(names[i]);
    }
    free(names);
    if (count == 0) {
        fail("no scenarios/*.json in %s", root);
        report(0, "scenario", "(none found)");
    }
    return count;
}

/* ---- config_cases.json and event_cases.json ----------------------------------------- */

static const cJSON *case_error(const cJSON *c, int *ok_expected) {
    *ok_expected = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "ok"));
    return cJSON_GetObjectItemCaseSensitive(c, "error");
}

static int run_config_case(const cJSON *c) {
    int ok_expected;
    const cJSON *error = case_error(c, &ok_expected);
    if (!ok_expected && error == NULL) return fail("case has neither \"ok\": true nor \"error\"");
    char *text = event_text(cJSON_GetObjectItemCaseSensitive(c, "config"));
    wm_config *config = NULL;
    wm_status status = wm_config_from_json(text, &config);
    free(text);
    char message[4096];
    snprintf(message, sizeof message, "%s", wm_last_error());
    int ok;
    if (ok_expected) {
        ok = status == WM_OK || fail("rejected: %s", message);
    } else {
        ok = check_error(status, message, error, "invalid_config");
        if (ok && status != WM_ERR_INVALID_CONFIG) ok = fail("kind %s is not invalid_config", kind_name(status));
    }
    if (wm_config_free(config) != WM_OK) ok = fail("wm_config_free: %s", wm_last_error());
    return ok;
}

static int run_cases(const char *root, const char *file, int events) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, file);
    cJSON *cases = load_json(path);
    if (!cJSON_IsArray(cases) || cJSON_GetArraySize(cases) == 0) {
        if (cases != NULL) fail("%s holds no cases", path);
        report(0, file, "(no cases)");
        cJSON_Delete(cases);
        return 0;
    }
    char dir[] = "/tmp/wafermon-conformance-XXXXXX";
    wm_client *client = NULL;
    if (events) {
        if (mkdtemp(dir) == NULL || (client = client_in(dir, NULL)) == NULL) {
            report(0, file, "(client for the event cases)");
            cJSON_Delete(cases);
            return 0;
        }
    }
    int count = 0, accepted = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
        const char *label = cJSON_IsString(name) ? name->valuestring : "(unnamed)";
        int ok;
        if (events) {
            int ok_expected;
            const cJSON *error = case_error(c, &ok_expected);
            char *text = event_text(cJSON_GetObjectItemCaseSensitive(c, "event"));
            wm_status status = wm_emit_json(client, text);
            free(text);
            char message[4096];
            snprintf(message, sizeof message, "%s", wm_last_error());
            if (ok_expected) {
                ok = status == WM_OK || fail("rejected: %s", message);
                accepted += status == WM_OK;
            } else if (error == NULL) {
                ok = fail("case has neither \"ok\": true nor \"error\"");
            } else {
                ok = check_error(status, message, error, "invalid_event");
                if (ok && status != WM_ERR_INVALID_EVENT) ok = fail("kind %s is not invalid_event", kind_name(status));
            }
        } else {
            ok = run_config_case(c);
        }
        report(ok, file, label);
        count++;
    }
    if (events) {
        /* Every accepted event, and nothing else, reached the backend. */
        int ok = close_client(client);
        if (wm_client_free(client) != WM_OK) ok = fail("wm_client_free: %s", wm_last_error());
        char data[4096];
        snprintf(data, sizeof data, "%s/data", dir);
        cJSON *written = ok ? read_events(data) : NULL;
        if (written != NULL && cJSON_GetArraySize(written) != accepted) {
            ok = fail("%d events written, %d accepted", cJSON_GetArraySize(written), accepted);
        }
        report(ok && written != NULL, file, "accepted events are written, rejected ones are not");
        cJSON_Delete(written);
        remove_tree(dir);
    }
    cJSON_Delete(cases);
    return count;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFORMANCE_DIR\n", argv[0]);
        return 2;
    }
    const char *root = argv[1];
    printf("conformance vectors from %s (wafermon %s)\n", root, wm_version());
    int vectors = run_error_kinds(root);
    vectors += run_scenarios(root);
    vectors += run_cases(root, "config_cases.json", 0);
    vectors += run_cases(root, "event_cases.json", 1);
    if (vectors == 0) printf("no conformance vectors found in %s: that is a failure\n", root);
    printf("conformance: %d passed, %d failed\n", passed, failed);
    return failed == 0 && vectors > 0 ? 0 : 1;
}
