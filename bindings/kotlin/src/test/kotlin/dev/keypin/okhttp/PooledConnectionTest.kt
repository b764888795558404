package dev.keypin.okhttp

import java.io.File
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
    private val publisher = Publisher()
    private val server = KeepAliveServer()

    @AfterAll
    fun stop() {
        server.close()
        publisher.close()
    }

    @Test
    fun a_pooled_connection_verified_under_old_pins_is_checked_again_after_a_pin_update() {
        val trust = server.trustManager()
        val caPin = server.caPin
        val pinning = KeypinPinning.fromToml(
            LabServer.policy(listOf("localhost"), listOf(caPin) + otherPins().take(1)),
            File(work, "state"),
            platformTrustManager = trust,
        )
        val updater = publisher.updater(pinning, File(work, "updater"))
        val client = pinning.install(Support.builder()).build()
        val url = server.url
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
        val served = server.requests.get()
        val e = assertThrows(SSLPeerUnverifiedException::class.java) { client.newCall(get()).execute().close() }
        assertTrue(e.message!!.contains("pin verification failed"), e.message)
        assertEquals(served, server.requests.get(), "no request went out on the connection checked under the old pins")
        updater.close()
        pinning.close()
    }
}
