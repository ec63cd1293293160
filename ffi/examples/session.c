/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * A live MoshKit session from C: connect to a mosh-server, type a command, wait (bounded) for
 * its output through the screen-changed callback, print the screen, check the scrollback
 * captured from slow output, resize, save and restore, close.
 *
 * usage: session HOST PORT KEY      (PORT and KEY from `MOSH CONNECT <port> <key>`)
 *        session                    (HOST, PORT, KEY from $MOSHKIT_TEST_HOST, _PORT, _KEY, as
 *                                    set by scripts/with-mosh-server.sh)
 * Exits 0 when every check passed; prints the failed check otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "moshkit.h"

#define MAX_ROWS 64
#define MAX_ROW_BYTES 1024

static int failures = 0;
#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            const char *why_ = moshkit_last_error_message();                           \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                    why_ ? why_ : "no error message");                                 \
            failures++;                                                                \
        }                                                                              \
    } while (0)

/* What the callbacks tell the main thread. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int screen_changed;              /* a pull is due */
    int screen_notifications;        /* total */
    int connected;
    int closed;
    MoshkitCloseReason close_reason;
    int resumed;                     /* restored sessions back in step */
    int scrollback_changes;          /* on_scrollback_changed calls */
    uint64_t scrollback_first, scrollback_end; /* as of the last one */
} Events;

static void on_screen_changed(void *ctx) {
    Events *e = ctx;
    pthread_mutex_lock(&e->lock);
    e->screen_changed = 1;
    e->screen_notifications++;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void on_connection_state(void *ctx, MoshkitConnectionState state, uint64_t silent_ms) {
    Events *e = ctx;
    (void)silent_ms;
    pthread_mutex_lock(&e->lock);
    if (state == MOSHKIT_CONNECTION_STATE_CONNECTED) e->connected = 1;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void on_resumed(void *ctx, bool server_had_newer_input) {
    (void)server_had_newer_input;
    Events *e = ctx;
    pthread_mutex_lock(&e->lock);
    e->resumed++;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void on_scrollback_changed(void *ctx, uint64_t first, uint64_t end) {
    Events *e = ctx;
    pthread_mutex_lock(&e->lock);
    e->scrollback_changes++;
    e->scrollback_first = first;
    e->scrollback_end = end;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

static void on_closed(void *ctx, MoshkitCloseReason reason) {
    Events *e = ctx;
    pthread_mutex_lock(&e->lock);
    e->closed = 1;
    e->close_reason = reason;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

/* The app's copy of the screen, updated from pulled changes. */
static char screen_rows[MAX_ROWS][MAX_ROW_BYTES];
static uint16_t screen_cols, screen_row_count;

static void apply(MoshkitScreen *screen) {
    MoshkitScreenInfo info;
    CHECK(moshkit_screen_info(screen, &info) == MOSHKIT_STATUS_OK);
    if (info.full) {
        memset(screen_rows, 0, sizeof screen_rows);
        screen_cols = info.cols;
        screen_row_count = info.rows;
    }
    for (size_t i = 0; i < info.changed_row_count; i++) {
        uint16_t row = 0;
        CHECK(moshkit_screen_row_index(screen, i, &row) == MOSHKIT_STATUS_OK);
        if (row >= MAX_ROWS) continue;
        size_t len = 0;
        MoshkitStatus st =
            moshkit_screen_row_text(screen, i, screen_rows[row], MAX_ROW_BYTES, &len);
        CHECK(st == MOSHKIT_STATUS_OK || st == MOSHKIT_STATUS_BUFFER_TOO_SMALL);
    }
}

static int screen_contains(const char *needle) {
    for (int r = 0; r < screen_row_count && r < MAX_ROWS; r++)
        if (strstr(screen_rows[r], needle)) return 1;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Pull on "screen changed" until a row contains `needle` (or `alt`, if not NULL), for at most
 * `limit_s` seconds. */
static int wait_for_any(MoshkitSession *s, Events *e, const char *needle, const char *alt,
                        double limit_s) {
    double deadline = now_s() + limit_s;
    for (;;) {
        pthread_mutex_lock(&e->lock);
        e->screen_changed = 0;
        pthread_mutex_unlock(&e->lock);
        MoshkitScreen *screen = NULL;
        CHECK(moshkit_session_pull_changes(s, &screen) == MOSHKIT_STATUS_OK);
        if (screen) {
            apply(screen);
            CHECK(moshkit_screen_free(screen) == MOSHKIT_STATUS_OK);
        }
        if (screen_contains(needle) || (alt && screen_contains(alt))) return 1;
        if (now_s() > deadline) {
            fprintf(stderr, "timed out waiting for \"%s\"\n", needle);
            return 0;
        }
        /* Sleep until the callback says there is something to pull (or 200 ms). */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
        pthread_mutex_lock(&e->lock);
        while (!e->screen_changed) {
            if (pthread_cond_timedwait(&e->cond, &e->lock, &until) == ETIMEDOUT) break;
        }
        pthread_mutex_unlock(&e->lock);
    }
}

static int wait_for(MoshkitSession *s, Events *e, const char *needle, double limit_s) {
    return wait_for_any(s, e, needle, NULL, limit_s);
}

static void print_screen(const char *title) {
    printf("--- %s (%ux%u) ---\n", title, screen_cols, screen_row_count);
    for (int r = 0; r < screen_row_count && r < MAX_ROWS; r++) {
        /* trim trailing spaces for the log */
        size_t n = strlen(screen_rows[r]);
        while (n > 0 && screen_rows[r][n - 1] == ' ') n--;
        printf("|%.*s\n", (int)n, screen_rows[r]);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The number N of a line "lineN" (trailing blanks allowed), or 0. */
static int output_line(const char *text) {
    if (strncmp(text, "line", 4) != 0) return 0;
    const char *p = text + 4;
    int n = 0, digits = 0;
    while (*p >= '0' && *p <= '9') { n = n * 10 + (*p++ - '0'); digits++; }
    while (*p == ' ') p++;
    return digits > 0 && *p == '\0' ? n : 0;
}

/* Whether the scrollback holds the output lines line1..lineK in order (K >= 30) and the screen
 * the rest up to line60. On success `*line1` is the copy-relative index of "line1" in a new copy
 * of the scrollback (`*copy`, to free), for the checks that follow. */
static int slow_output_captured(MoshkitSession *s, MoshkitScrollbackLines **copy, size_t *line1) {
    uint64_t first = 0, end = 0;
    if (moshkit_session_scrollback_range(s, &first, &end) != MOSHKIT_STATUS_OK) return 0;
    MoshkitScrollbackLines *lines = NULL;
    if (moshkit_session_scrollback_lines(s, first, MOSHKIT_SCROLLBACK_LINES_MAX, &lines) !=
        MOSHKIT_STATUS_OK)
        return 0;
    size_t count = 0;
    CHECK(moshkit_scrollback_line_count(lines, &count) == MOSHKIT_STATUS_OK);
    CHECK(count == end - first);
    int next = 1, ok = 1;
    for (size_t i = 0; i < count; i++) {
        MoshkitScrollbackLineInfo info;
        CHECK(moshkit_scrollback_line_info(lines, i, &info) == MOSHKIT_STATUS_OK);
        CHECK(info.index == first + i && !info.missing && info.cell_count == 80);
        char text[MAX_ROW_BYTES];
        size_t len = 0;
        CHECK(moshkit_scrollback_line_text(lines, i, text, sizeof text, &len) == MOSHKIT_STATUS_OK);
        int n = output_line(text);
        if (n == 0) continue;
        if (n == 1) *line1 = i;
        if (n != next) ok = 0;
        next++;
    }
    int scrolled = next - 1;
    /* The rest is on the screen. */
    MoshkitScreen *snap = NULL;
    CHECK(moshkit_session_snapshot(s, &snap) == MOSHKIT_STATUS_OK);
    MoshkitScreenInfo info;
    CHECK(moshkit_screen_info(snap, &info) == MOSHKIT_STATUS_OK);
    for (size_t i = 0; i < info.changed_row_count; i++) {
        char text[MAX_ROW_BYTES];
        size_t len = 0;
        CHECK(moshkit_screen_row_text(snap, i, text, sizeof text, &len) == MOSHKIT_STATUS_OK);
        int n = output_line(text);
        if (n == 0) continue;
        if (n != next) ok = 0;
        next++;
    }
    CHECK(moshkit_screen_free(snap) == MOSHKIT_STATUS_OK);
    ok = ok && scrolled >= 30 && next == 61;
    if (ok) {
        *copy = lines;
    } else {
        CHECK(moshkit_scrollback_free(lines) == MOSHKIT_STATUS_OK);
    }
    return ok;
}

/* Slow output on the 80x24 screen: what scrolls off is captured, in order, announced by
 * on_scrollback_changed; the upstream server serves no scrollback; misuse returns statuses. */
static void check_scrollback(MoshkitSession *s, Events *e) {
    MoshkitScrollbackMode mode = MOSHKIT_SCROLLBACK_MODE_OFF;
    CHECK(moshkit_session_scrollback_mode(s, &mode) == MOSHKIT_STATUS_OK);
    CHECK(mode == MOSHKIT_SCROLLBACK_MODE_CAPTURED);
    const char *loop = "for i in $(seq 1 60); do echo line$i; sleep 0.05; done\r";
    CHECK(moshkit_session_send_input(s, (const uint8_t *)loop, strlen(loop)) == MOSHKIT_STATUS_OK);
    MoshkitScrollbackLines *copy = NULL;
    size_t line1 = 0;
    double deadline = now_s() + 20.0;
    while (!slow_output_captured(s, &copy, &line1) && now_s() < deadline) sleep_ms(100);
    CHECK(copy != NULL);
    if (!copy) return;
    uint64_t first = 0, end = 0;
    CHECK(moshkit_session_scrollback_range(s, &first, &end) == MOSHKIT_STATUS_OK);
    printf("scrollback: lines %llu..%llu captured\n", (unsigned long long)first,
           (unsigned long long)end);
    /* The callback reported the range (bounded wait: it may trail the check by a frame). */
    deadline = now_s() + 5.0;
    int reported = 0;
    while (!reported && now_s() < deadline) {
        pthread_mutex_lock(&e->lock);
        reported = e->scrollback_changes > 0 && e->scrollback_first == first &&
                   e->scrollback_end == end;
        pthread_mutex_unlock(&e->lock);
        if (!reported) sleep_ms(50);
    }
    CHECK(reported);

    /* One line, cell by cell. */
    char word[6] = {0};
    for (uint16_t col = 0; col < 5; col++) {
        MoshkitCell cell;
        CHECK(moshkit_scrollback_cell(copy, line1, col, &cell) == MOSHKIT_STATUS_OK);
        CHECK(cell.text != NULL && cell.width == 1 && strlen(cell.text) == 1);
        word[col] = cell.text[0];
    }
    CHECK(strcmp(word, "line1") == 0);

    /* Upstream mosh-server keeps no scrollback: nothing can be requested. */
    CHECK(moshkit_session_request_scrollback(s, first, end) == MOSHKIT_STATUS_SCROLLBACK_NOT_SERVED);
    CHECK(moshkit_session_request_scrollback(s, 5, 5) == MOSHKIT_STATUS_INVALID_RANGE);

    /* Misuse. */
    size_t count = 0, len = 0;
    char small[4];
    MoshkitCell cell;
    MoshkitScrollbackLineInfo info;
    MoshkitScrollbackLines *none = NULL;
    CHECK(moshkit_scrollback_line_count(copy, &count) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_scrollback_line_text(copy, line1, small, sizeof small, &len) ==
          MOSHKIT_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 80 && strcmp(small, "lin") == 0); /* truncated like snprintf */
    CHECK(moshkit_scrollback_line_text(copy, count, small, sizeof small, &len) ==
          MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(moshkit_scrollback_line_info(copy, count, &info) == MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(moshkit_scrollback_cell(copy, line1, 80, &cell) == MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(moshkit_scrollback_cell(copy, line1, 0, NULL) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_scrollback_line_info(copy, 0, NULL) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_scrollback_line_count(NULL, &count) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_session_scrollback_range(NULL, &first, &end) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_session_scrollback_range(s, NULL, &end) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_session_scrollback_mode(s, NULL) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_session_scrollback_lines(s, first, 10, NULL) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_session_scrollback_lines(NULL, first, 10, &none) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(none == NULL);
    CHECK(moshkit_session_request_scrollback(NULL, 0, 1) == MOSHKIT_STATUS_NULL_POINTER);

    CHECK(moshkit_scrollback_free(copy) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_scrollback_free(copy) == MOSHKIT_STATUS_INVALID_HANDLE); /* double free */
    CHECK(moshkit_scrollback_line_count(copy, &count) == MOSHKIT_STATUS_INVALID_HANDLE);
}

static void type_line(MoshkitSession *s, const char *text) {
    CHECK(moshkit_session_send_input(s, (const uint8_t *)text, strlen(text)) == MOSHKIT_STATUS_OK);
    uint8_t enter[MOSHKIT_KEY_BYTES_MAX];
    size_t len = sizeof enter;
    CHECK(moshkit_encode_key(MOSHKIT_KEY_KIND_ENTER, 0, 0, enter, &len) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_session_send_input(s, enter, len) == MOSHKIT_STATUS_OK);
}

int main(int argc, char **argv) {
    const char *host = getenv("MOSHKIT_TEST_HOST");
    const char *port_text = getenv("MOSHKIT_TEST_PORT");
    const char *key = getenv("MOSHKIT_TEST_KEY");
    if (argc == 4) {
        host = argv[1];
        port_text = argv[2];
        key = argv[3];
    }
    if (!host || !port_text || !key) {
        fprintf(stderr, "usage: %s HOST PORT KEY (or set MOSHKIT_TEST_HOST/_PORT/_KEY)\n", argv[0]);
        return 2;
    }
    uint16_t port = (uint16_t)atoi(port_text);

    Events events = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    MoshkitCallbacks cb = {
        .struct_size = sizeof(MoshkitCallbacks),
        .context = &events,
        .on_screen_changed = on_screen_changed,
        .on_connection_state = on_connection_state,
        .on_closed = on_closed,
        .on_resumed = on_resumed,
        .on_scrollback_changed = on_scrollback_changed,
    };
    MoshkitSessionOptions options = {
        .struct_size = sizeof(MoshkitSessionOptions),
        .scrollback_lines = MOSHKIT_DEFAULT_SCROLLBACK_LINES,
    };

    /* Errors first: nothing here touches the network. */
    MoshkitSession *s = NULL;
    CHECK(moshkit_session_connect(host, port, "not-a-key", 80, 24, MOSHKIT_PREDICTION_MODE_ADAPTIVE,
                                  &cb, &s) == MOSHKIT_STATUS_INVALID_KEY);
    CHECK(moshkit_session_connect("bad host!", port, key, 80, 24, MOSHKIT_PREDICTION_MODE_ADAPTIVE,
                                  &cb, &s) == MOSHKIT_STATUS_INVALID_ADDRESS);
    CHECK(moshkit_session_connect(host, port, key, 0, 24, MOSHKIT_PREDICTION_MODE_ADAPTIVE, &cb,
                                  &s) == MOSHKIT_STATUS_INVALID_SIZE);
    CHECK(moshkit_session_connect(NULL, port, key, 80, 24, 0, &cb, &s) ==
          MOSHKIT_STATUS_NULL_POINTER);
    CHECK(s == NULL);
    CHECK(moshkit_session_resize(NULL, 80, 24) == MOSHKIT_STATUS_NULL_POINTER);

    MoshkitSessionOptions too_small = {.struct_size = 1};
    CHECK(moshkit_session_connect_with_options(host, port, key, 80, 24,
                                               MOSHKIT_PREDICTION_MODE_ADAPTIVE, &cb, &too_small,
                                               &s) == MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(s == NULL);

    CHECK(moshkit_session_connect_with_options(host, port, key, 80, 24,
                                               MOSHKIT_PREDICTION_MODE_ADAPTIVE, &cb, &options,
                                               &s) == MOSHKIT_STATUS_OK);
    if (!s) return 1;

    CHECK(wait_for_any(s, &events, "$", "#", 10.0)); /* the shell's prompt */
    CHECK(screen_cols == 80 && screen_row_count == 24);
    pthread_mutex_lock(&events.lock);
    CHECK(events.connected);
    pthread_mutex_unlock(&events.lock);

    type_line(s, "echo mk-$((40+2))");
    CHECK(wait_for(s, &events, "mk-42", 10.0));
    print_screen("after echo");

    check_scrollback(s, &events);

    CHECK(moshkit_session_resize(s, 100, 30) == MOSHKIT_STATUS_OK);
    type_line(s, "stty size");
    CHECK(wait_for(s, &events, "30 100", 10.0));
    CHECK(screen_cols == 100 && screen_row_count == 30);
    print_screen("after resize");

    MoshkitStats stats;
    CHECK(moshkit_session_stats(s, &stats) == MOSHKIT_STATUS_OK);
    CHECK(stats.datagrams_received > 0 && stats.last_contact_ms != UINT64_MAX);
    printf("stats: srtt %.1f ms, %llu datagrams sent, %llu received\n", stats.srtt_ms,
           (unsigned long long)stats.datagrams_sent, (unsigned long long)stats.datagrams_received);

    /* A snapshot is complete; a cell has its text. */
    MoshkitScreen *snap = NULL;
    CHECK(moshkit_session_snapshot(s, &snap) == MOSHKIT_STATUS_OK);
    MoshkitScreenInfo info;
    CHECK(moshkit_screen_info(snap, &info) == MOSHKIT_STATUS_OK);
    CHECK(info.full && info.changed_row_count == 30 && info.cols == 100);
    MoshkitCell cell;
    CHECK(moshkit_screen_cell(snap, 0, 0, &cell) == MOSHKIT_STATUS_OK);
    CHECK(cell.text != NULL && cell.width <= 2);
    CHECK(moshkit_screen_cell(snap, 0, 100, &cell) == MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(moshkit_screen_free(snap) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_screen_free(snap) == MOSHKIT_STATUS_INVALID_HANDLE); /* double free */

    /* Backgrounding and a network change keep the session. */
    CHECK(moshkit_session_pause(s) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_session_resume(s) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_session_network_changed(s) == MOSHKIT_STATUS_OK);
    type_line(s, "echo again-$((2*21))");
    CHECK(wait_for(s, &events, "again-42", 10.0));

    /* The app is killed (the handle freed without closing: nothing more is sent) and a new
       session is restored from the saved state, ten times; every third time from a stale state
       saved before the previous cycle's work. Each time the server's current screen (with
       output made after the save) comes back, and a typed command works. */
    enum { CYCLES = 10 };
    uint8_t *saved[CYCLES] = {NULL};
    size_t saved_len[CYCLES] = {0};
    for (int cycle = 0; cycle < CYCLES && s; cycle++) {
        size_t need = 0;
        CHECK(moshkit_session_save_state(s, NULL, &need) == MOSHKIT_STATUS_BUFFER_TOO_SMALL);
        CHECK(need > 0);
        saved[cycle] = malloc(need);
        saved_len[cycle] = need;
        CHECK(moshkit_session_save_state(s, saved[cycle], &saved_len[cycle]) == MOSHKIT_STATUS_OK);
        char cmd[64], want[64];
        snprintf(cmd, sizeof cmd, "echo during%d-$((%d*2))", cycle, cycle + 20);
        snprintf(want, sizeof want, "during%d-%d", cycle, (cycle + 20) * 2);
        type_line(s, cmd);
        CHECK(wait_for(s, &events, want, 10.0));
        CHECK(moshkit_session_free(s) == MOSHKIT_STATUS_OK);
        s = NULL;
        int from = cycle % 3 == 2 ? cycle - 1 : cycle;
        CHECK(moshkit_session_restore(saved[from], saved_len[from], &cb, &s) == MOSHKIT_STATUS_OK);
        if (!s) break;
        memset(screen_rows, 0, sizeof screen_rows);
        CHECK(wait_for(s, &events, want, 15.0));
        snprintf(cmd, sizeof cmd, "echo after%d-$((%d*3))", cycle, cycle + 20);
        snprintf(want, sizeof want, "after%d-%d", cycle, (cycle + 20) * 3);
        type_line(s, cmd);
        CHECK(wait_for(s, &events, want, 15.0));
    }
    for (int i = 0; i < CYCLES; i++) free(saved[i]);
    pthread_mutex_lock(&events.lock);
    int resumed = events.resumed;
    pthread_mutex_unlock(&events.lock);
    CHECK(resumed == CYCLES); /* every restored session reported on_resumed once */
    if (!s) return 1;
    MoshkitSession *bad = NULL;
    CHECK(moshkit_session_restore((const uint8_t *)"not saved", 9, &cb, &bad) ==
          MOSHKIT_STATUS_INVALID_SAVED_STATE);
    CHECK(bad == NULL);
    CHECK(moshkit_session_restore(NULL, 0, &cb, &bad) == MOSHKIT_STATUS_NULL_POINTER);

    /* Close: on_closed follows, bounded. */
    CHECK(moshkit_session_close(s) == MOSHKIT_STATUS_OK);
    double deadline = now_s() + 15.0;
    pthread_mutex_lock(&events.lock);
    while (!events.closed && now_s() < deadline) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&events.cond, &events.lock, &until);
    }
    int closed = events.closed;
    MoshkitCloseReason reason = events.close_reason;
    pthread_mutex_unlock(&events.lock);
    CHECK(closed);
    CHECK(reason == MOSHKIT_CLOSE_REASON_SHUTDOWN_ACKNOWLEDGED);
    MoshkitConnectionState state;
    CHECK(moshkit_session_connection_state(s, &state, &reason) == MOSHKIT_STATUS_OK);
    CHECK(state == MOSHKIT_CONNECTION_STATE_CLOSED);
    CHECK(moshkit_session_send_input(s, (const uint8_t *)"x", 1) == MOSHKIT_STATUS_CLOSED);
    CHECK(moshkit_session_close(s) == MOSHKIT_STATUS_CLOSED);

    CHECK(moshkit_session_free(s) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_session_free(s) == MOSHKIT_STATUS_INVALID_HANDLE);       /* double free */
    CHECK(moshkit_session_resize(s, 80, 24) == MOSHKIT_STATUS_INVALID_HANDLE); /* use after free */

    if (failures) {
        fprintf(stderr, "session.c: %d check(s) failed\n", failures);
        return 1;
    }
    printf("session.c: all checks passed\n");
    return 0;
}
