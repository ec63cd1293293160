// SPDX-License-Identifier: MIT OR Apache-2.0
//
// A JVM stand-in for android.util.Log (only what android/src/main/kotlin uses), so that the
// Android helpers compile and run in bindings/tests/MoshKitTest.kt without an Android SDK.
package android.util

class Log private constructor() {
    companion object {
        const val VERBOSE = 2
        const val DEBUG = 3
        const val INFO = 4
        const val WARN = 5
        const val ERROR = 6

        /** Every line "printed", as (priority, tag, message). */
        val lines: MutableList<Triple<Int, String, String>> =
            java.util.Collections.synchronizedList(mutableListOf())

        @JvmStatic
        fun println(priority: Int, tag: String, msg: String): Int {
            lines.add(Triple(priority, tag, msg))
            return msg.length
        }
    }
}
