package dev.keypin.okhttp

import com.sun.net.httpserver.HttpsConfigurator
import com.sun.net.httpserver.HttpsServer
import java.io.Closeable
import java.io.File
import java.net.InetSocketAddress
import java.security.KeyStore
import java.security.MessageDigest
import java.security.cert.X509Certificate
import java.util.Base64
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.KeyManagerFactory
import javax.net.ssl.SSLContext
import javax.net.ssl.X509TrustManager

/**
 * The JDK's HTTPS server on loopback (keep-alive, unlike the lab's one-request servers) with a
 * CA and a `localhost` leaf made by keytool; counts the requests it answers.
 */
class KeepAliveServer : Closeable {
    private val work = Support.tempDir("keypin-https")
    private val store = File(work, "ks.p12")
    val requests = AtomicInteger()
    private val server: HttpsServer

    private fun keytool(vararg args: String) {
        val tool = File(System.getProperty("java.home"), "bin/keytool").path
        val p = ProcessBuilder(listOf(tool, "-keystore", store.path, "-storetype", "PKCS12", "-storepass", PASS) + args)
            .redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor() == 0) { "keytool ${args.joinToString(" ")}: $out" }
    }

    private fun keys() = KeyStore.getInstance("PKCS12").apply { store.inputStream().use { load(it, PASS.toCharArray()) } }

    init {
        val req = File(work, "leaf.csr").path
        val cert = File(work, "leaf.pem").path
        keytool("-genkeypair", "-alias", "ca", "-dname", "CN=Keep-alive Test CA", "-ext", "bc:c", "-keyalg", "EC", "-validity", "3650")
        keytool("-genkeypair", "-alias", "leaf", "-dname", "CN=localhost", "-keyalg", "EC", "-validity", "365")
        keytool("-certreq", "-alias", "leaf", "-file", req)
        keytool("-gencert", "-alias", "ca", "-infile", req, "-outfile", cert, "-ext", "san=dns:localhost", "-ext", "eku=serverAuth", "-validity", "365")
        keytool("-importcert", "-alias", "leaf", "-file", cert, "-noprompt")
        val kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm()).apply { init(keys(), PASS.toCharArray()) }
        val context = SSLContext.getInstance("TLS").apply { init(kmf.keyManagers, null, null) }
        server = HttpsServer.create(InetSocketAddress("127.0.0.1", 0), 256).apply {
            httpsConfigurator = HttpsConfigurator(context)
            executor = Executors.newFixedThreadPool(2)
            createContext("/") { exchange ->
                requests.incrementAndGet()
                val body = "hello".toByteArray()
                exchange.sendResponseHeaders(200, body.size.toLong())
                exchange.responseBody.use { it.write(body) }
            }
            start()
        }
    }

    val url: String get() = "https://localhost:${server.address.port}/"

    /** The CA certificate. */
    val ca: X509Certificate get() = keys().getCertificate("ca") as X509Certificate

    /** The verified path as the platform builds it: leaf, then the CA (the anchor). */
    val path: List<X509Certificate> get() = keys().getCertificateChain("leaf").map { it as X509Certificate }

    /** The CA key's pin, `sha256/...`. */
    val caPin: String get() = spkiPin(ca)

    /** A trust manager that trusts the CA only. */
    fun trustManager(): X509TrustManager = KeypinPinning.systemTrustManager(
        KeyStore.getInstance(KeyStore.getDefaultType()).apply { load(null, null); setCertificateEntry("ca", ca) },
    )

    override fun close() = server.stop(0)

    private companion object {
        const val PASS = "changeit"
    }
}

fun spkiPin(cert: X509Certificate): String =
    "sha256/" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(cert.publicKey.encoded))
