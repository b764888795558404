package dev.keypin.okhttp

import dev.keypin.ffi.KeypinException
import java.io.File
import javax.net.ssl.SSLException
import okhttp3.OkHttpClient
import okhttp3.Request
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * Signed pin updates served by `keypin bundle serve`, fetched by [KeypinUpdater] with OkHttp,
 * switch the pins for the next connection; a rolled-back or tampered bundle is refused and
 * the pins in force stay.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UpdateTest {
    private val publisher = Publisher()
    private val work = Support.tempDir("keypin-update")
    private val host = LabServer.host("P0")
    private val url = LabServer.url("P0")
    private val genuine = LabServer.policy(listOf(host), LabServer.pins)
    private val other = LabServer.policy(listOf(host), otherPins())

    @AfterAll
    fun stop() = publisher.close()

    private fun sign(version: Int, policy: String) = publisher.sign(version, policy)

    private fun publish(bytes: ByteArray) = publisher.publish(bytes)

    private fun get(client: OkHttpClient): Boolean = try {
        client.newCall(Request.Builder().url(url).build()).execute().use { it.body!!.string(); true }
    } catch (e: SSLException) {
        false
    }

    @Test
    fun a_new_bundle_switches_the_pins_for_the_next_connection_and_rollback_or_tampering_is_refused() {
        val trust = trustManagerFrom(LabServer.trustStore)
        val pinning = KeypinPinning.fromToml(genuine, File(work, "state"), platformTrustManager = trust)
        val updater = publisher.updater(pinning, File(work, "updater"))
        val client = pinning.install(Support.builder().sslSocketFactory(pinning.sslSocketFactory, pinning.trustManager)).build()
        assertTrue(get(client), "the embedded pins accept the genuine server")

        // v2 pins other keys: the next connection (and the pooled one) is refused.
        publish(sign(2, other))
        val d2 = updater.checkNow()
        assertTrue(d2.updated)
        assertEquals(2uL, d2.bundleVersion)
        assertFalse(get(client), "v2's pins refuse the genuine server")

        // Unchanged bytes: a conditional request, nothing new.
        assertFalse(updater.checkNow().updated)

        // Rollback: v1 re-published (validly signed, lower version) is refused; v2 stays.
        publish(sign(1, genuine))
        val rollback = assertThrows(KeypinException.Update::class.java) { updater.checkNow() }
        assertTrue(rollback.message!!.contains("last good pins stay"), rollback.message)
        assertEquals(2uL, pinning.core.bundleVersion())
        assertFalse(get(client))

        // Tampered: v3 with one byte changed is refused; v2 stays.
        val v3 = sign(3, genuine)
        v3[v3.size / 2] = (v3[v3.size / 2].toInt() xor 1).toByte()
        publish(v3)
        assertThrows(KeypinException.Update::class.java) { updater.checkNow() }
        assertEquals(2uL, pinning.core.bundleVersion())
        assertFalse(get(client))

        // v4 brings the genuine pins back: the next connection is accepted again.
        publish(sign(4, genuine))
        assertTrue(updater.checkNow().updated)
        assertTrue(get(client), "v4's pins accept the genuine server")

        // A restart starts on the stored bundle.
        val again = KeypinPinning.fromToml(other, File(work, "state2"), platformTrustManager = trust)
        val restarted = publisher.updater(again, File(work, "updater"), base = "http://127.0.0.1:1/")
        assertEquals(4uL, restarted.startup.bundleVersion)
        updater.close(); restarted.close(); pinning.close(); again.close()
    }
}

/** Two pins of keys nobody has: a policy that refuses every real server. */
fun otherPins(): List<String> =
    (1..2).map { "sha256/" + java.util.Base64.getEncoder().encodeToString(ByteArray(32) { b -> (b * 7 + it).toByte() }) }
