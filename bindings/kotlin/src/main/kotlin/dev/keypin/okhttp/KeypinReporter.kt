package dev.keypin.okhttp

import dev.keypin.ffi.Keypin
import dev.keypin.ffi.KeypinException
import java.io.Closeable
import java.io.IOException
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledFuture
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import okhttp3.MediaType.Companion.toMediaType
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody

/**
 * Sends the pin-failure reports keypin's core built and de-duplicated, with OkHttp, on one
 * background thread: never on the handshake thread, never through the connection that
 * failed ([client] is a client of its own). The queue lives in the core: bounded (oldest
 * dropped), and a delivered report is not sent again for 24 hours, across restarts. A failed
 * delivery is tried again after a backoff (30 s doubling to 30 min).
 */
class KeypinReporter internal constructor(
    private val core: Keypin,
    private val client: OkHttpClient,
) : Closeable {
    private val executor = Executors.newSingleThreadScheduledExecutor { r ->
        Thread(r, "keypin-reports").apply { isDaemon = true }
    }
    private val pending = AtomicBoolean(false)
    // Both touched only on the executor's one thread.
    private var backoffSeconds = 30L
    private var retry: ScheduledFuture<*>? = null

    /**
     * Asks for a delivery soon (called after each failure). While a retry waits out its backoff
     * it carries the new reports too: however many failures wake the reporter, there is one
     * delivery chain, never one per failure.
     */
    fun wake() {
        if (pending.compareAndSet(false, true)) {
            executor.execute {
                pending.set(false)
                if (retry == null) deliverAndRetry()
            }
        }
    }

    /** Delivers what is queued now, on the reporter's thread; true when the queue is empty. */
    fun flush(timeoutMillis: Long = 10_000): Boolean =
        executor.submit<Boolean> { deliver() }.get(timeoutMillis, TimeUnit.MILLISECONDS)

    private fun deliverAndRetry() {
        // A failure of the core itself (its state directory unreadable) is a failed pass too:
        // tried again after the backoff rather than lost with the task.
        val empty = try { deliver() } catch (_: KeypinException) { false }
        if (!empty) {
            retry = executor.schedule({ retry = null; deliverAndRetry() }, backoffSeconds, TimeUnit.SECONDS)
            backoffSeconds = (backoffSeconds * 2).coerceAtMost(1800)
        } else {
            backoffSeconds = 30
        }
    }

    /** One pass over the queue; true when nothing is left. */
    private fun deliver(): Boolean {
        val reports = core.pendingReports(32u)
        val delivered = mutableListOf<String>()
        for (report in reports) {
            val request = Request.Builder()
                .url(report.uri)
                .post(report.body.toRequestBody(JSON))
                .build()
            try {
                client.newCall(request).execute().use { if (it.isSuccessful) delivered += report.key }
            } catch (_: IOException) {
                // Kept queued; tried again after the backoff.
            } catch (_: IllegalArgumentException) {
                // A report URI OkHttp cannot use; it stays queued until dropped by newer ones.
            }
        }
        if (delivered.isNotEmpty()) core.reportsDelivered(delivered)
        return core.pendingReports(1u).isEmpty()
    }

    override fun close() {
        executor.shutdownNow()
    }

    private companion object {
        val JSON = "application/json".toMediaType()
    }
}
