package dev.keypin.okhttp

import com.sun.net.httpserver.HttpsConfigurator
import com.sun.net.httpserver.HttpsServer
import java.io.File
import java.net.InetSocketAddress
import java.security.KeyStore
import java.security.MessageDigest
import java.security.cert.X509Certificate
import java.util.Base64
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.KeyManagerFactory
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLPeerUnverifiedException
import okhttp3.Request
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * A connection verified under the old pins is never used as if checked under the new ones:
 * a keep-alive HTTPS server (the JDK's, with a CA and leaf made by keytool), a connection in
 * use while a pin update lands, then returned to the pool: the next request on it is checked
 * again under the new pins and refused before it is sent.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PooledConnectionTest {
    private val work = Support.tempDir("keypin-pool")
    private val store = File(work, "ks.p12")
    private val publisher = Publisher()
    private val requests = AtomicInteger()
    private val server: HttpsServer

    private fun keytool(vararg args: String) {
        val tool = File(System.getProperty("java.home"), "bin/keytool").path
        val p = ProcessBuilder(listOf(tool, "-keystore", store.path, "-storetype", "PKCS12", "-storepass", PASS) + args)
            .redirectErrorStream(true).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor() == 0) { "keytool ${args.joinToString(" ")}: $out" }
    }

    init {
        val req = File(work, "leaf.csr").path
        val cert = File(work, "leaf.pem").path
        keytool("-genkeypair", "-alias", "ca", "-dname", "CN=Pool Test CA", "-ext", "bc:c", "-keyalg", "EC", "-validity", "3650")
        keytool("-genkeypair", "-alias", "leaf", "-dname", "CN=localhost", "-keyalg", "EC", "-validity", "365")
        keytool("-certreq", "-alias", "leaf", "-file", req)
        keytool("-gencert", "-alias", "ca", "-infile", req, "-outfile", cert, "-ext", "san=dns:localhost", "-ext", "eku=serverAuth", "-validity", "365")
        keytool("-importcert", "-alias", "leaf", "-file", cert, "-noprompt")
        val keys = KeyStore.getInstance("PKCS12").apply { store.inputStream().use { load(it, PASS.toCharArray()) } }
        val kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm()).apply { init(keys, PASS.toCharArray()) }
        val context = SSLContext.getInstance("TLS").apply { init(kmf.keyManagers, null, null) }
        server = HttpsServer.create(InetSocketAddress("127.0.0.1", 0), 0).apply {
            httpsConfigurator = HttpsConfigurator(context)
            createContext("/") { exchange ->
                requests.incrementAndGet()
                val body = "hello".toByteArray()
                exchange.sendResponseHeaders(200, body.size.toLong())
                exchange.responseBody.use { it.write(body) }
            }
            start()
        }
    }

    @AfterAll
    fun stop() {
        server.stop(0)
        publisher.close()
    }

    private fun ca(): X509Certificate {
        val keys = KeyStore.getInstance("PKCS12").apply { store.inputStream().use { load(it, PASS.toCharArray()) } }
        return keys.getCertificate("ca") as X509Certificate
    }

    @Test
    fun a_pooled_connection_verified_under_old_pins_is_checked_again_after_a_pin_update() {
        val ca = ca()
        val caPin = "sha256/" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256").digest(ca.publicKey.encoded))
        val trust = KeypinPinning.systemTrustManager(
            KeyStore.getInstance(KeyStore.getDefaultType()).apply { load(null, null); setCertificateEntry("ca", ca) },
        )
        val pinning = KeypinPinning.fromToml(
            LabServer.policy(listOf("localhost"), listOf(caPin) + otherPins().take(1)),
            File(work, "state"),
            platformTrustManager = trust,
        )
        val updater = publisher.updater(pinning, File(work, "updater"))
        val client = pinning.install(Support.builder()).build()
        val url = "https://localhost:${server.address.port}/"
        val get = { Request.Builder().url(url).build() }

        client.newCall(get()).execute().use { assertEquals("hello", it.body!!.string()) }
        client.newCall(get()).execute().use { assertEquals("hello", it.body!!.string()) }
        assertEquals(1, client.connectionPool.connectionCount(), "one keep-alive connection, reused")

        // A response still being read holds the connection while the update lands.
        val open = client.newCall(get()).execute()
        publisher.publish(publisher.sign(2, LabServer.policy(listOf("localhost"), otherPins())))
        assertTrue(updater.checkNow().updated)
        assertEquals("hello", open.body!!.string())
        open.close()
        assertEquals(1, client.connectionPool.connectionCount(), "the connection went back to the pool")

        // The next request would reuse it: checked again under v2's pins, refused, not sent.
        val served = requests.get()
        val e = assertThrows(SSLPeerUnverifiedException::class.java) { client.newCall(get()).execute().close() }
        assertTrue(e.message!!.contains("pin verification failed"), e.message)
        assertEquals(served, requests.get(), "no request went out on the connection checked under the old pins")
        updater.close()
        pinning.close()
    }

    private companion object {
        const val PASS = "changeit"
    }
}
