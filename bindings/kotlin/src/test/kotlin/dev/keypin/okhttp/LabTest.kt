package dev.keypin.okhttp

import java.io.File
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * The attack lab judges OkHttp: `keypin lab run` serves each scenario and runs the lab client
 * ([main] in LabClient.kt) once per scenario, judging it by what the server saw. The tables
 * are written to target/keypin-results/lab-*.txt.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LabTest {
    /** Scenarios outside what the OkHttp binding does: OCSP staples and CT (no staple or SCT
     * list crosses to the core yet), mTLS client identities (M*), and A18 (judged only for
     * keypin's own client). */
    private fun applicable(id: String) =
        !(id.startsWith("OCSP") || id.startsWith("CT") || id.startsWith("M") || id == "A18")

    private val pinningScenarios = "P0,P1,P2,A1,A2,A3,A4,A5,A6-expired,A6-not-yet-valid,A7,A8,A9-sha1,A9-rsa1024,A10,A14-tls1.0,A14-cleartext,A15,A16"

    private fun lab(mode: String, extra: String, scenarios: String?): Map<String, String> {
        val java = ProcessHandle.current().info().command().orElse("java")
        val cp = System.getProperty("java.class.path")
        val client = "$java -Xshare:auto -XX:TieredStopAtLevel=1 -cp $cp dev.keypin.okhttp.LabClientKt $mode {url} {ca_file} {addr} $extra"
        val args = mutableListOf("lab", "run", "--timeout", "20", "--client", client)
        if (scenarios != null) args += listOf("--scenario", scenarios)
        val (_, out) = Support.run(*args.toTypedArray())
        File(Support.results, "lab-$mode.txt").writeText(out.replace(cp, "<test classpath>"))
        val rows = out.lines().map { it.trim().split(Regex("\\s+")) }
            .filter { it.size >= 4 && it[3] in setOf("PASS", "FAIL", "SKIP") }
            .associate { it[0] to it[3] }
        assertTrue(rows.isNotEmpty(), "no verdicts in the lab's output:\n$out")
        return rows
    }

    private val keypin by lazy { lab("keypin", "{policy}", null) }

    @Test
    fun okhttp_with_keypin_passes_every_applicable_scenario() {
        val failed = keypin.filter { (id, result) -> applicable(id) && result != "PASS" }
        assertTrue(failed.isEmpty(), "applicable scenarios not passed: $failed (all: $keypin)")
        assertTrue(keypin.keys.count(::applicable) >= 19, "scenarios run: ${keypin.keys}")
    }

    @Test
    fun a3_rogue_ca_in_the_trust_store_is_refused_by_keypin() = assertEquals("PASS", keypin["A3"])

    @Test
    fun a7_pin_stuffing_is_refused_by_keypin() = assertEquals("PASS", keypin["A7"])

    @Test
    fun a10_interception_root_is_refused_by_keypin() = assertEquals("PASS", keypin["A10"])

    @Test
    fun a15_ssl_stripping_redirect_is_not_followed_by_keypin() = assertEquals("PASS", keypin["A15"])

    @Test
    fun plain_okhttp_with_the_same_trust_store_is_caught_on_a3() {
        val plain = lab("plain", "", pinningScenarios)
        assertEquals("FAIL", plain["A3"], "plain OkHttp must be caught on A3: $plain")
        assertEquals("PASS", plain["P0"])
    }

    @Test
    fun okhttp_certificate_pinner_with_the_same_pins_beside_it() {
        val pinner = lab("pinner", "{pins_okhttp}", pinningScenarios)
        assertEquals("PASS", pinner["A3"], "$pinner")
        assertEquals("PASS", pinner["P0"], "$pinner")
    }
}
