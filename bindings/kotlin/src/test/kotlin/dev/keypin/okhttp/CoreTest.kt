package dev.keypin.okhttp

import dev.keypin.ffi.Keypin
import dev.keypin.ffi.KeypinException
import dev.keypin.ffi.PathPosition
import dev.keypin.ffi.Verdict
import java.io.File
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The core across the boundary, from Kotlin: typed exceptions with keypin's messages. */
class CoreTest {
    private val options = AppInfo().options(Support.tempDir("keypin-core"), emptyList())

    @Test
    fun an_invalid_policy_is_a_policy_exception_naming_source_and_line() {
        val e = assertThrows(KeypinException.Policy::class.java) {
            Keypin.fromToml("[[rule]]\nhosts = [\"a.example\"]\npins = [\"sha256/nope\"]\n", "app.toml", options)
        }
        assertTrue(e.message!!.contains("app.toml:3"), e.message)
    }

    @Test
    fun malformed_input_is_an_invalid_input_exception_not_a_crash() {
        Keypin.fromToml(LabServer.policy(listOf("a.example"), LabServer.pins), "p", options).use { core ->
            val e = assertThrows(KeypinException.InvalidInput::class.java) { core.check("a.example", emptyList()) }
            assertTrue(e.message!!.contains("2 to 16 certificates"), e.message)
            assertThrows(KeypinException::class.java) { core.check("a.example", listOf(byteArrayOf(1, 2), byteArrayOf(3))) }
        }
    }

    @Test
    fun a_pin_on_the_verified_path_matches_with_its_position() {
        KeepAliveServer().use { server ->
            Keypin.fromToml(LabServer.policy(listOf("localhost"), listOf(server.caPin) + otherPins().take(1)), "p", options).use { core ->
                val verdict = core.check("localhost", server.path.map { it.encoded })
                assertTrue(verdict is Verdict.Matched, "$verdict")
                verdict as Verdict.Matched
                assertEquals(server.caPin, verdict.pin)
                assertEquals(PathPosition.TrustAnchor, verdict.position)
            }
        }
    }
}
