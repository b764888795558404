package dev.keypin.okhttp

import dev.keypin.ffi.BundleFetcher
import dev.keypin.ffi.FetchFailure
import dev.keypin.ffi.FetchResult
import dev.keypin.ffi.UpdateDecision
import dev.keypin.ffi.UpdaterOptions
import java.io.Closeable
import java.io.File
import java.io.IOException
import java.time.Duration
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledExecutorService
import java.util.concurrent.TimeUnit
import okhttp3.HttpUrl
import okhttp3.HttpUrl.Companion.toHttpUrl
import okhttp3.OkHttpClient
import okhttp3.Request

/**
 * Signed pin updates: fetches `root-N.json` and `bundle.json` under [baseUrl] with OkHttp
 * (conditional requests: `If-None-Match` with the stored ETag), and hands the bytes to
 * keypin's updater in the core, which verifies them against [embeddedRoot] (signatures,
 * threshold, app, environment, version above the high-water mark, expiry), keeps its state
 * in [stateDir] and puts the new pins in force for new connections. A refused or unreachable
 * update keeps the last good pins.
 *
 * Scheduling is the app's: call [checkNow] (a plain blocking function, off the main thread),
 * or [schedule] a timer. On Android, call [checkNow] from a `CoroutineWorker`/`Worker` run by
 * WorkManager as a `PeriodicWorkRequest` (e.g. every 6 hours, with a network constraint).
 *
 * Constructing it starts the updater: a stored bundle that still verifies is put in force.
 */
class KeypinUpdater @JvmOverloads constructor(
    private val pinning: KeypinPinning,
    baseUrl: String,
    appId: String,
    environment: String,
    embeddedRoot: ByteArray,
    stateDir: File,
    private val client: OkHttpClient = OkHttpClient(),
) : Closeable {
    private val base: HttpUrl = (if (baseUrl.endsWith("/")) baseUrl else "$baseUrl/").toHttpUrl()
    private var timer: ScheduledExecutorService? = null

    /** What the updater started on. */
    val startup: UpdateDecision = pinning.core.startUpdater(
        UpdaterOptions(appId, environment, embeddedRoot, stateDir.path),
        OkHttpFetcher(),
    )

    init {
        if (startup.generation != 0uL) pinning.policyChanged()
    }

    /**
     * One update check now. Returns what is in force after it; throws
     * [dev.keypin.ffi.KeypinException.Update] (with keypin's reason) when the update was
     * refused or could not be fetched; the last good pins stay in force either way.
     */
    fun checkNow(): UpdateDecision {
        val decision = pinning.core.updateNow()
        if (decision.updated) pinning.policyChanged()
        return decision
    }

    /** Runs [checkNow] every [interval] on a daemon thread; failures are left to [onError]. */
    @JvmOverloads
    fun schedule(interval: Duration, onError: (Exception) -> Unit = {}) {
        val t = timer ?: Executors.newSingleThreadScheduledExecutor { r ->
            Thread(r, "keypin-updater").apply { isDaemon = true }
        }.also { timer = it }
        t.scheduleWithFixedDelay({
            try { checkNow() } catch (e: Exception) { onError(e) }
        }, 0, interval.toMillis(), TimeUnit.MILLISECONDS)
    }

    override fun close() {
        timer?.shutdownNow()
    }

    private inner class OkHttpFetcher : BundleFetcher {
        override fun fetch(name: String, etag: String?, maxBytes: ULong): FetchResult {
            val url = base.resolve(name) ?: throw FetchFailure.Transport("$name: not a valid name under $base")
            val request = Request.Builder().url(url).apply {
                if (etag != null) header("If-None-Match", etag)
            }.build()
            try {
                client.newCall(request).execute().use { response ->
                    return when (response.code) {
                        304 -> FetchResult.NotModified
                        404 -> FetchResult.NotFound
                        in 200..299 -> {
                            val limit = maxBytes.coerceAtMost(Int.MAX_VALUE.toULong() - 1uL).toLong()
                            val source = response.body!!.source()
                            // Read at most one byte over the cap: the core refuses it as too large.
                            source.request(limit + 1)
                            val body = source.buffer.readByteArray(minOf(source.buffer.size, limit + 1))
                            FetchResult.Content(body, response.header("ETag"))
                        }
                        else -> throw FetchFailure.Transport("$url: HTTP ${response.code}")
                    }
                }
            } catch (e: IOException) {
                throw FetchFailure.Transport("$url: ${e.message ?: e.javaClass.simpleName}")
            }
        }
    }
}
