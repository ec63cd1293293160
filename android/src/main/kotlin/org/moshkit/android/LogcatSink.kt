// SPDX-License-Identifier: MIT OR Apache-2.0
package org.moshkit.android

import android.util.Log
import org.moshkit.LogLevel
import org.moshkit.LogSink
import org.moshkit.setLogSink

/**
 * Forwards MoshKit's log records to logcat under [tag] (the Rust target is kept in the message).
 *
 * Install once, e.g. in `Application.onCreate`: `LogcatSink.install(LogLevel.INFO)`.
 */
class LogcatSink(private val tag: String = "MoshKit") : LogSink {
    override fun log(level: LogLevel, target: String, message: String) {
        val priority = when (level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, tag, "$target: $message")
    }

    companion object {
        /** Routes MoshKit logging up to [maxLevel] to logcat. */
        fun install(maxLevel: LogLevel = LogLevel.INFO, tag: String = "MoshKit") {
            setLogSink(LogcatSink(tag), maxLevel)
        }
    }
}
