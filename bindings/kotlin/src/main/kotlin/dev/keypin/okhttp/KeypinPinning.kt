package dev.keypin.okhttp

import dev.keypin.ffi.Keypin
import dev.keypin.ffi.KeypinException
import dev.keypin.ffi.KeypinOptions
import dev.keypin.ffi.Verdict
import java.io.Closeable
import java.io.File
import java.io.IOException
import java.security.KeyStore
import java.security.cert.CertificateException
import java.security.cert.X509Certificate
import java.security.interfaces.RSAPublicKey
import java.util.Collections
import java.util.WeakHashMap
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLPeerUnverifiedException
import javax.net.ssl.SSLSession
import javax.net.ssl.SSLSocket
import javax.net.ssl.SSLSocketFactory
import javax.net.ssl.TrustManagerFactory
import javax.net.ssl.X509TrustManager
import okhttp3.ConnectionPool
import okhttp3.Interceptor
import okhttp3.OkHttpClient
import okhttp3.Response
import okhttp3.internal.tls.CertificateChainCleaner

/**
 * keypin for OkHttp: pins checked by keypin's Rust core on the chain the platform **verified**
 * (never on the list the server sent), signed pin updates ([KeypinUpdater]) and failure
 * reports ([KeypinReporter]).
 *
 * ```
 * val pinning = KeypinPinning.fromToml(policyToml, File(context.filesDir, "keypin"))
 * val client = pinning.install(OkHttpClient.Builder()).build()
 * ```
 *
 * How a connection is checked:
 * 1. the platform trust manager validates the chain first (its trust store, dates, algorithms);
 * 2. OkHttp's certificate chain cleaner builds the path that validation used, from the leaf
 *    to the platform's trust anchor (on Android: `X509TrustManagerExtensions`), so a pinned
 *    certificate the server merely appended never counts (pin stuffing, CVE-2016-2402);
 * 3. keypin validates that path again (dates, name, algorithms) and matches the pins of the
 *    policy generation in force; a failure refuses the handshake and queues a report.
 *
 * Pin updates: new connections use the generation in force. When it changes, idle pooled
 * connections are evicted, and a connection already open (in use, or HTTP/2) is checked again
 * under the new pins before its next request ([install]'s network interceptor): it goes on
 * if the new pins accept it, else that request fails with [SSLPeerUnverifiedException]. A
 * resumed TLS session is checked the same way. Requests in flight finish on the pins they
 * started with.
 *
 * Cleartext: a request over `http://` to a pinned host is refused (SSL stripping), and
 * [install] turns off following https-to-http redirects.
 */
class KeypinPinning(
    /** The Rust core (policy in force, check, updater, report queue). */
    val core: Keypin,
    /** The platform's trust manager (the system's, or the app's). */
    platformTrustManager: X509TrustManager = systemTrustManager(),
    /** Sends reports; the default uses a plain OkHttp client of its own. */
    reportClient: OkHttpClient = OkHttpClient(),
) : Closeable {
    private val cleaner = CertificateChainCleaner.get(platformTrustManager)

    /** The trust manager to give OkHttp (platform validation, then keypin's pins). */
    val trustManager: X509TrustManager = KeypinTrustManager(platformTrustManager, this)

    /** An `SSLSocketFactory` over [trustManager]. */
    val sslSocketFactory: SSLSocketFactory =
        SSLContext.getInstance("TLS").apply { init(null, arrayOf(trustManager), null) }.socketFactory

    /** The background sender of pin-failure reports. */
    val reporter = KeypinReporter(core, reportClient)

    private val pools = Collections.synchronizedMap(WeakHashMap<ConnectionPool, Unit>())
    private val checked = Collections.synchronizedMap(WeakHashMap<SSLSession, Long>())

    /**
     * Pins `builder`: keypin's trust manager, a connection pool keypin can evict when the pins
     * change, the re-check of open connections, and refusal of cleartext to pinned hosts.
     */
    fun install(builder: OkHttpClient.Builder): OkHttpClient.Builder {
        val pool = ConnectionPool()
        pools[pool] = Unit
        return builder
            .sslSocketFactory(sslSocketFactory, trustManager)
            .connectionPool(pool)
            .followSslRedirects(false)
            .addInterceptor(CleartextGuard())
            .addNetworkInterceptor(GenerationCheck())
    }

    /** The generation of the policy in force (0 first, +1 per installed bundle). */
    val generation: Long get() = core.generation().toLong()

    /**
     * Called when the policy in force changed ([KeypinUpdater] does it): idle connections of
     * every pinned client are closed; connections in use are checked again before their next
     * request.
     */
    fun policyChanged() {
        synchronized(pools) { pools.keys.toList() }.forEach { it.evictAll() }
    }

    /**
     * Validates [chain] as the platform would, then checks keypin's pins on the verified path.
     * Returns the generation that decided; throws [CertificateException] when refused.
     */
    internal fun verify(host: String, chain: List<X509Certificate>): Long {
        val path = try {
            cleaner.clean(chain, host)
        } catch (e: SSLPeerUnverifiedException) {
            throw CertificateException("keypin: $host: no verified path to a trusted anchor: ${e.message}", e)
        }
        refuseWeakKeys(host, path)
        val verdict = try {
            core.check(host, path.map { it.encoded })
        } catch (e: KeypinException) {
            throw CertificateException("keypin: ${e.message}", e)
        }
        return when (verdict) {
            is Verdict.NotPinned -> verdict.generation.toLong()
            is Verdict.Matched -> verdict.generation.toLong()
            is Verdict.Failed -> {
                reporter.wake()
                if (!verdict.failure.reportOnly) throw CertificateException("keypin: ${verdict.failure.message}")
                verdict.generation.toLong()
            }
        }
    }

    /**
     * keypin's rustls stack refuses RSA keys under 2048 bits in the handshake signature, which
     * the platform made here (JSSE accepts 1024): the same floor, on every key of the path.
     */
    private fun refuseWeakKeys(host: String, path: List<java.security.cert.Certificate>) {
        for (cert in path) {
            val key = cert.publicKey
            if (key is RSAPublicKey && key.modulus.bitLength() < MIN_RSA_BITS) {
                throw CertificateException(
                    "keypin: $host: ${(cert as? X509Certificate)?.subjectX500Principal?.name} has a ${key.modulus.bitLength()}-bit RSA key; " +
                        "at least $MIN_RSA_BITS bits are required",
                )
            }
        }
    }

    internal fun remember(session: SSLSession?, generation: Long) {
        if (session != null) checked[session] = generation
    }

    /** Checks an established session again when the pins changed since it was checked. */
    internal fun ensureChecked(session: SSLSession, host: String) {
        if (checked[session] == generation) return
        val peer = session.peerCertificates.map { it as X509Certificate }
        val decided = try {
            verify(host, peer)
        } catch (e: CertificateException) {
            throw SSLPeerUnverifiedException(e.message).apply { initCause(e) }
        }
        checked[session] = decided
    }

    private inner class CleartextGuard : Interceptor {
        override fun intercept(chain: Interceptor.Chain): Response {
            refuseCleartext(chain)
            return chain.proceed(chain.request())
        }
    }

    private inner class GenerationCheck : Interceptor {
        override fun intercept(chain: Interceptor.Chain): Response {
            refuseCleartext(chain)
            val socket = chain.connection()?.socket() as? SSLSocket
            if (socket != null) ensureChecked(socket.session, chain.request().url.host)
            return chain.proceed(chain.request())
        }
    }

    private fun refuseCleartext(chain: Interceptor.Chain) {
        val url = chain.request().url
        if (!url.isHttps && core.isPinned(url.host)) {
            throw IOException("keypin: refusing cleartext http:// to the pinned host ${url.host} (SSL stripping?); use https")
        }
    }

    override fun close() {
        reporter.close()
        core.close()
    }

    companion object {
        private const val MIN_RSA_BITS = 2048

        /**
         * keypin on the policy in [toml]; [stateDir] is a directory keypin owns (report
         * de-duplication). [reportUris] receive reports for rules that name none.
         */
        @JvmStatic
        @JvmOverloads
        fun fromToml(
            toml: String,
            stateDir: File,
            app: AppInfo = AppInfo(),
            reportUris: List<String> = emptyList(),
            platformTrustManager: X509TrustManager = systemTrustManager(),
            reportClient: OkHttpClient = OkHttpClient(),
        ): KeypinPinning {
            val core = Keypin.fromToml(toml, "embedded policy", app.options(stateDir, reportUris))
            return KeypinPinning(core, platformTrustManager, reportClient)
        }

        /** The platform's default trust manager (the system trust store). */
        @JvmStatic
        fun systemTrustManager(keyStore: KeyStore? = null): X509TrustManager {
            val factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
            factory.init(keyStore)
            return factory.trustManagers.filterIsInstance<X509TrustManager>().first()
        }
    }
}

/** What reports say about the app (TrustKit's `app-*` fields). */
data class AppInfo(
    val appId: String? = null,
    val appVersion: String? = null,
    val platform: String? = "JVM",
    /** Most reports waiting to be sent; beyond it the oldest is dropped. */
    val reportQueue: Int = 64,
) {
    internal fun options(stateDir: File, reportUris: List<String>) = KeypinOptions(
        stateDir.path,
        appId,
        appVersion,
        platform,
        reportUris,
        reportQueue.coerceIn(1, 1024).toUInt(),
    )
}
