/* SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Exercises every function of the MoshKit C API (include/moshkit.h), including error paths.
 * Built against libmoshkit.a and libmoshkit.so by scripts/test-bindings.sh; exits non-zero
 * on the first failed check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moshkit.h"

static int checks = 0;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        checks++;                                                                   \
        if (!(cond)) {                                                              \
            const char *err_ = moshkit_last_error_message();                        \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, err_ ? err_ : "(none)");                       \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

/* Encodes a key into a MOSHKIT_KEY_BYTES_MAX buffer and compares it with `want`. */
static int encodes_to(uint32_t kind, uint32_t value, uint32_t mods, const char *want,
                      size_t want_len) {
    uint8_t buf[MOSHKIT_KEY_BYTES_MAX];
    size_t len = sizeof buf;
    MoshkitStatus st = moshkit_encode_key(kind, value, mods, buf, &len);
    if (st != MOSHKIT_STATUS_OK) return 0;
    printf("  key kind=%u value=%u mods=%u ->", (unsigned)kind, (unsigned)value, (unsigned)mods);
    for (size_t i = 0; i < len; i++) printf(" %02x", buf[i]);
    printf("\n");
    return len == want_len && memcmp(buf, want, len) == 0;
}

struct log_capture {
    int records;
    int saw_key_rejection;
    MoshkitLogLevel last_level;
};

static void on_log(void *context, MoshkitLogLevel level, const char *target, const char *message) {
    struct log_capture *cap = context;
    cap->records++;
    cap->last_level = level;
    if (strcmp(target, "moshkit::ffi") == 0 && strstr(message, "session key rejected") != NULL)
        cap->saw_key_rejection = 1;
    printf("  log[%u] %s: %s\n", (unsigned)level, target, message);
}

int main(void) {
    /* version */
    const char *version = moshkit_version();
    CHECK(version != NULL && strlen(version) > 0);
    printf("moshkit %s\n", version);
    CHECK(moshkit_last_error_message() == NULL);

    /* session keys (from `MOSH CONNECT <port> <key>`) */
    CHECK(moshkit_validate_session_key("4NeCCgvZFe2RnPgrcU1PQw") == MOSHKIT_STATUS_OK);
    CHECK(moshkit_last_error_message() == NULL);
    CHECK(moshkit_validate_session_key("4NeCCgvZFe2RnPgrcU1PQw==") == MOSHKIT_STATUS_INVALID_KEY);
    CHECK(strstr(moshkit_last_error_message(), "padding") != NULL);
    printf("  bad key: %s\n", moshkit_last_error_message());
    CHECK(moshkit_validate_session_key("short") == MOSHKIT_STATUS_INVALID_KEY);
    CHECK(strstr(moshkit_last_error_message(), "22 characters") != NULL);
    CHECK(moshkit_validate_session_key(NULL) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(strcmp(moshkit_last_error_message(), "key is NULL") == 0);
    CHECK(moshkit_validate_session_key("\xff\xfe") == MOSHKIT_STATUS_INVALID_UTF8);

    /* last error copy (snprintf semantics) */
    CHECK(moshkit_validate_session_key("short") == MOSHKIT_STATUS_INVALID_KEY);
    size_t need = moshkit_last_error_message_copy(NULL, 0);
    CHECK(need == strlen(moshkit_last_error_message()));
    char small[8];
    CHECK(moshkit_last_error_message_copy(small, sizeof small) == need);
    CHECK(strlen(small) == 7 && strncmp(small, moshkit_last_error_message(), 7) == 0);
    char *full = malloc(need + 1);
    CHECK(full != NULL);
    CHECK(moshkit_last_error_message_copy(full, need + 1) == need);
    CHECK(strcmp(full, moshkit_last_error_message()) == 0);
    free(full);

    /* prediction modes */
    MoshkitPredictionMode mode = MOSHKIT_PREDICTION_MODE_ADAPTIVE;
    CHECK(moshkit_parse_prediction_mode("always", &mode) == MOSHKIT_STATUS_OK);
    CHECK(mode == MOSHKIT_PREDICTION_MODE_ALWAYS);
    CHECK(moshkit_parse_prediction_mode("experimental", &mode) == MOSHKIT_STATUS_OK);
    CHECK(mode == MOSHKIT_PREDICTION_MODE_EXPERIMENTAL);
    CHECK(moshkit_parse_prediction_mode("sometimes", &mode) ==
          MOSHKIT_STATUS_INVALID_PREDICTION_MODE);
    CHECK(mode == MOSHKIT_PREDICTION_MODE_EXPERIMENTAL);
    CHECK(moshkit_parse_prediction_mode("never", NULL) == MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_parse_prediction_mode(NULL, &mode) == MOSHKIT_STATUS_NULL_POINTER);

    /* key encoding */
    CHECK(encodes_to(MOSHKIT_KEY_KIND_CHAR, 'a', 0, "a", 1));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_CHAR, 'c', MOSHKIT_MOD_CTRL, "\x03", 1));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_CHAR, 'x', MOSHKIT_MOD_ALT, "\x1bx", 2));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_CHAR, 0xE9, 0, "\xc3\xa9", 2)); /* é */
    CHECK(encodes_to(MOSHKIT_KEY_KIND_ENTER, 0, 0, "\r", 1));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_BACKSPACE, 0, 0, "\x7f", 1));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_UP, 0, 0, "\x1bOA", 3));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_LEFT, 0, MOSHKIT_MOD_SHIFT | MOSHKIT_MOD_CTRL,
                     "\x1b[1;6D", 6));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_TAB, 0, MOSHKIT_MOD_SHIFT, "\x1b[Z", 3));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_DELETE, 0, 0, "\x1b[3~", 4));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_FUNCTION, 1, 0, "\x1bOP", 3));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_FUNCTION, 12, 0, "\x1b[24~", 5));
    CHECK(encodes_to(MOSHKIT_KEY_KIND_FUNCTION, 0, 0, "", 0)); /* no encoding */

    uint8_t tiny[2];
    size_t len = sizeof tiny;
    CHECK(moshkit_encode_key(MOSHKIT_KEY_KIND_PAGE_UP, 0, 0, tiny, &len) ==
          MOSHKIT_STATUS_BUFFER_TOO_SMALL);
    CHECK(len == 4); /* ESC [ 5 ~ */
    len = 0;
    CHECK(moshkit_encode_key(MOSHKIT_KEY_KIND_HOME, 0, 0, NULL, &len) ==
          MOSHKIT_STATUS_BUFFER_TOO_SMALL); /* size query */
    CHECK(len == 3);
    len = 8;
    CHECK(moshkit_encode_key(MOSHKIT_KEY_KIND_HOME, 0, 0, NULL, &len) ==
          MOSHKIT_STATUS_NULL_POINTER);
    CHECK(moshkit_encode_key(MOSHKIT_KEY_KIND_HOME, 0, 0, tiny, NULL) ==
          MOSHKIT_STATUS_NULL_POINTER);
    len = sizeof tiny;
    CHECK(moshkit_encode_key(99, 0, 0, tiny, &len) == MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(moshkit_last_error_message(), "unknown key kind 99") != NULL);
    CHECK(moshkit_encode_key(MOSHKIT_KEY_KIND_CHAR, 0xD800, 0, tiny, &len) ==
          MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(moshkit_encode_key(MOSHKIT_KEY_KIND_CHAR, 'a', 0x100, tiny, &len) ==
          MOSHKIT_STATUS_INVALID_ARGUMENT);

    /* log callback */
    struct log_capture cap = {0, 0, 0};
    CHECK(moshkit_set_log_callback(on_log, &cap, 42) == MOSHKIT_STATUS_INVALID_ARGUMENT);
    CHECK(cap.records == 0);
    CHECK(moshkit_set_log_callback(on_log, &cap, MOSHKIT_LOG_LEVEL_DEBUG) == MOSHKIT_STATUS_OK);
    CHECK(cap.records == 1 && cap.last_level == MOSHKIT_LOG_LEVEL_INFO); /* "installed" */
    CHECK(moshkit_validate_session_key("bad") == MOSHKIT_STATUS_INVALID_KEY);
    CHECK(cap.saw_key_rejection && cap.last_level == MOSHKIT_LOG_LEVEL_DEBUG);
    CHECK(moshkit_set_log_callback(on_log, &cap, MOSHKIT_LOG_LEVEL_WARN) == MOSHKIT_STATUS_OK);
    int before = cap.records;
    CHECK(moshkit_validate_session_key("bad") == MOSHKIT_STATUS_INVALID_KEY); /* debug: filtered */
    CHECK(cap.records == before);
    CHECK(moshkit_set_log_callback(NULL, NULL, 0) == MOSHKIT_STATUS_OK); /* remove */
    CHECK(moshkit_set_log_callback(on_log, &cap, MOSHKIT_LOG_LEVEL_TRACE) == MOSHKIT_STATUS_OK);
    CHECK(cap.records == before + 1);
    CHECK(moshkit_set_log_callback(NULL, NULL, 0) == MOSHKIT_STATUS_OK);
    CHECK(moshkit_validate_session_key("bad") == MOSHKIT_STATUS_INVALID_KEY);
    CHECK(cap.records == before + 1);

    printf("c: %d checks passed\n", checks);
    return 0;
}
