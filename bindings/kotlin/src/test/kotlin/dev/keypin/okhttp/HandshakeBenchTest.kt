package dev.keypin.okhttp

import java.io.File
import java.util.concurrent.TimeUnit
import javax.net.ssl.SSLSocket
import okhttp3.Call
import okhttp3.CertificatePinner
import okhttp3.Connection
import okhttp3.ConnectionPool
import okhttp3.EventListener
import okhttp3.OkHttpClient
import okhttp3.Request
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.condition.EnabledIfSystemProperty

/**
 * Benchmarks (bench/kotlin-okhttp.sh; skipped unless -Dkeypin.bench=true):
 * - full TLS handshakes per second through OkHttp on loopback, keypin's check vs OkHttp's
 *   CertificatePinner with the same pins, alternating rounds in one run;
 * - one `check` across the FFI boundary (the same chain as the handshakes).
 * Results go to target/keypin-results/bench.txt.
 */
/** TCP_NODELAY: without it Nagle and delayed ACKs add about 40 ms to every connection on
 * loopback (the client's Finished and its request are two small writes), for both clients. */
private object NoDelaySockets : javax.net.SocketFactory() {
    private fun nd(s: java.net.Socket) = s.apply { tcpNoDelay = true }
    override fun createSocket() = nd(java.net.Socket())
    override fun createSocket(host: String, port: Int) = nd(java.net.Socket(host, port))
    override fun createSocket(host: String, port: Int, local: java.net.InetAddress, localPort: Int) =
        nd(java.net.Socket(host, port, local, localPort))
    override fun createSocket(host: java.net.InetAddress, port: Int) = nd(java.net.Socket(host, port))
    override fun createSocket(host: java.net.InetAddress, port: Int, local: java.net.InetAddress, localPort: Int) =
        nd(java.net.Socket(host, port, local, localPort))
}

@EnabledIfSystemProperty(named = "keypin.bench", matches = "true")
class HandshakeBenchTest {
    /** No session is resumed: every connection is a full handshake. */
    private val noResumption = object : EventListener() {
        override fun connectionAcquired(call: Call, connection: Connection) {
            (connection.socket() as? SSLSocket)?.session?.invalidate()
        }
    }

    private fun rate(client: OkHttpClient, url: String, n: Int): Double {
        val start = System.nanoTime()
        repeat(n) {
            client.newCall(Request.Builder().url(url).build()).execute().use { it.body!!.string() }
        }
        return n / ((System.nanoTime() - start) / 1e9)
    }

    @Test
    fun handshakes_per_second_keypin_vs_certificate_pinner_and_ffi_check() {
        val n = Integer.getInteger("keypin.bench.handshakes", 200)
        val rounds = Integer.getInteger("keypin.bench.rounds", 20)
        run {
            // The lab's P0 server (rustls, one request per connection): the genuine chain.
            val url = LabServer.url("P0")
            val host = LabServer.host("P0")
            val trust = trustManagerFrom(LabServer.trustStore)
            val pins = LabServer.pins
            val pinning = KeypinPinning.fromToml(
                LabServer.policy(listOf(host), pins), Support.tempDir("keypin-bench"), platformTrustManager = trust,
            )
            fun base() = Support.builder().eventListener(noResumption).socketFactory(NoDelaySockets)
                .connectionPool(ConnectionPool(0, 1, TimeUnit.SECONDS))
            val keypin = pinning.install(base()).connectionPool(ConnectionPool(0, 1, TimeUnit.SECONDS)).build()
            val pinner = base().sslSocketFactory(context(trust).socketFactory, trust)
                .certificatePinner(CertificatePinner.Builder().add(host, *pins.toTypedArray()).build()).build()

            // Warm-up (the JIT), then short rounds alternating between the clients: whatever
            // drifts during the run (the machine's load, sockets in TIME_WAIT) reaches both
            // alike. The figure is the ratio of the two totals (connections over time).
            repeat(3) {
                rate(keypin, url, n)
                rate(pinner, url, n)
            }
            val k = mutableListOf<Double>()
            val p = mutableListOf<Double>()
            repeat(rounds) {
                k += rate(keypin, url, n)
                p += rate(pinner, url, n)
            }
            val km = k.size * n / k.sumOf { n / it }
            val pm = p.size * n / p.sumOf { n / it }
            val pairs = k.zip(p) { a, b -> a / b }.sorted()

            val session = pinner.newCall(Request.Builder().url(url).build()).execute().use { it.handshake!!.peerCertificates }
            val path = okhttp3.internal.tls.CertificateChainCleaner.get(trust).clean(session, host)
            val der = path.map { (it as java.security.cert.X509Certificate).encoded }
            repeat(20_000) { pinning.core.check(host, der) }
            val checks = 100_000
            val t0 = System.nanoTime()
            repeat(checks) { pinning.core.check(host, der) }
            val perCheckNs = (System.nanoTime() - t0) / checks

            val pathDir = File(Support.results, "bench-path").apply { mkdirs() }
            der.forEachIndexed { i, bytes -> File(pathDir, "$i.der").writeBytes(bytes) }
            File(pathDir, "policy.toml").writeText(LabServer.policy(listOf(host), pins))
            File(pathDir, "host.txt").writeText(host)

            val text = buildString {
                appendLine("full TLS handshakes per second through OkHttp ${okhttp3.OkHttp.VERSION} on loopback (the lab's P0 server: rustls, one request per connection; TLS 1.3, no resumption, TCP_NODELAY), $rounds alternating rounds of $n after 3 warm-up rounds each, total connections over total time:")
                appendLine("  keypin (platform trust manager + chain cleaner + keypin check): %.0f/s  rounds %s".format(km, k.map { "%.0f".format(it) }))
                appendLine("  OkHttp CertificatePinner, same pins:                         %.0f/s  rounds %s".format(pm, p.map { "%.0f".format(it) }))
                appendLine("  ratio keypin / CertificatePinner: %.3f (per round pair: median %.3f, quartiles %.3f to %.3f)".format(
                    km / pm, pairs[pairs.size / 2], pairs[pairs.size / 4], pairs[pairs.size * 3 / 4]))
                appendLine("one Keypin.check across the FFI (JNA) on the same verified path (leaf, issuing CA, root), verification cache warm: $perCheckNs ns")
                appendLine("path and policy for the Rust side: ${pathDir.path}")
            }
            File(Support.results, "bench.txt").writeText(text)
            println(text)
            pinning.close()
        }
    }
}
